package v1alpha1_test

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

type invalidCase struct {
	name   string
	base   string
	mutate func(obj map[string]any)
	// wantField must appear in the API server's error: the field a person has to fix.
	wantField string
}

func set(value any, path ...string) func(map[string]any) {
	return func(o map[string]any) { must(unstructured.SetNestedField(o, value, path...)) }
}

func drop(path ...string) func(map[string]any) {
	return func(o map[string]any) { unstructured.RemoveNestedField(o, path...) }
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

var invalidCases = []invalidCase{
	{"missing template", siteYAML, drop("spec", "template"), "spec.template"},
	{"missing service", siteYAML, drop("spec", "service"), "spec.service"},
	{"no service ports", siteYAML, set([]any{}, "spec", "service", "ports"), "spec.service.ports"},
	{"service port out of range", siteYAML, set([]any{map[string]any{"port": int64(70000)}}, "spec", "service", "ports"), "spec.service.ports[0].port"},
	{"unsupported service type", siteYAML, set("ExternalName", "spec", "service", "type"), "spec.service.type"},
	{"negative replicas", siteYAML, set(int64(-1), "spec", "replicas"), "spec.replicas"},
	{"release group not a DNS label", siteYAML, set("Shop/Web", "spec", "strategy", "group"), "spec.strategy.group"},
	{"release group too long", siteYAML, set(strings.Repeat("g", 64), "spec", "strategy", "group"), "spec.strategy.group"},
	{"previewReplicas above replicas", siteYAML, set(int64(5), "spec", "strategy", "previewReplicas"), "spec.strategy.previewReplicas"},
	{"malformed scaleDownDelay", siteYAML, set("10 minutes", "spec", "strategy", "scaleDownDelay"), "spec.strategy.scaleDownDelay"},
	{"negative progressDeadline", siteYAML, set("-5m", "spec", "strategy", "progressDeadline"), "spec.strategy.progressDeadline"},
	{"malformed check timeout", siteYAML, set("soon", "spec", "strategy", "prePromotion", "timeout"), "spec.strategy.prePromotion.timeout"},
	{"activeName equal to previewName", siteYAML, func(o map[string]any) {
		set("web", "spec", "service", "activeName")(o)
		set("web", "spec", "service", "previewName")(o)
	}, "spec.service.activeName"},
	{"previewName equal to the default active name", siteYAML, set("shop", "spec", "service", "previewName"), "spec.service.activeName"},
	{"service name not a DNS label", siteYAML, set("Shop_Web", "spec", "service", "activeName"), "spec.service.activeName"},
	{"database name with capitals", siteYAML, set("Shop", "spec", "database", "name"), "spec.database.name"},
	{"database name with a hyphen", siteYAML, set("shop-db", "spec", "database", "name"), "spec.database.name"},
	{"database name without room for the color suffix", siteYAML, set(strings.Repeat("s", 58), "spec", "database", "name"), "spec.database.name"},
	{"unknown clone method", siteYAML, set("Snapshot", "spec", "database", "cloneMethod"), "spec.database.cloneMethod"},
	{"replicated cutover without a rehearsal", siteYAML, func(o map[string]any) {
		set(false, "spec", "database", "rehearse")(o)
		set("Replicated", "spec", "database", "cutover", "method")(o)
	}, "spec.database.cutover.method Replicated needs spec.database.rehearse"},
	{"unknown cutover method", siteYAML, set("Snapshot", "spec", "database", "cutover", "method"), "spec.database.cutover.method"},
	{"unknown cutover fallback", siteYAML, set("Retry", "spec", "database", "cutover", "onUnsupported"), "spec.database.cutover.onUnsupported"},
	{"negative maxLagBytes", siteYAML, set(int64(-1), "spec", "database", "cutover", "maxLagBytes"), "spec.database.cutover.maxLagBytes"},
	{"catchUpTimeout not a duration", siteYAML, set("ten seconds", "spec", "database", "cutover", "catchUpTimeout"), "spec.database.cutover.catchUpTimeout"},
	{"database without schemaRevision", siteYAML, drop("spec", "database", "schemaRevision"), "spec.database.schemaRevision"},
	{"revisionHistoryLimit zero", siteYAML, set(int64(0), "spec", "revisionHistoryLimit"), "spec.revisionHistoryLimit"},
	{"no upstreams", siteYAML, set([]any{}, "spec", "promotion", "upstreams"), "spec.promotion.upstreams"},
	{"an upstream named twice", siteYAML, set([]any{map[string]any{"name": "shop-dev"}, map[string]any{"name": "shop-dev", "namespace": ""}},
		"spec", "promotion", "upstreams"), "spec.promotion.upstreams[1]: Duplicate value"},
	{"an upstream naming the site itself", siteYAML, set([]any{map[string]any{"name": "shop"}}, "spec", "promotion", "upstreams"),
		"spec.promotion.upstreams must not name this SiteDeployment itself"},
	{"upstream name not a DNS label", siteYAML, set([]any{map[string]any{"name": "Shop_Dev"}}, "spec", "promotion", "upstreams"),
		"spec.promotion.upstreams[0].name"},
	{"a preview annotation in the controller's own prefix", siteYAML, set(map[string]any{"deploy.understudy.dev/revision": "x"},
		"spec", "strategy", "preview", "annotations"), "spec.strategy.preview.annotations must not use the deploy.understudy.dev/ prefix"},
	{"a preview variable named twice", siteYAML, set([]any{map[string]any{"name": "MAIL_ENABLED", "value": "false"}, map[string]any{"name": "MAIL_ENABLED", "value": "true"}},
		"spec", "strategy", "preview", "env"), "spec.strategy.preview.env[1]: Duplicate value"},
	{"minLiveDuration not a duration", siteYAML, set("an hour", "spec", "promotion", "minLiveDuration"), "spec.promotion.minLiveDuration"},
	{"name too long for the color suffixes", siteYAML, set(strings.Repeat("a", 60), "metadata", "name"), "metadata.name"},

	{"a check with both a Job and metrics", siteYAML, set([]any{promMetric()}, "spec", "strategy", "prePromotion", "metrics"),
		"a check is either a Job (template) or metric checks (metrics)"},
	{"a check with neither a Job nor metrics", siteYAML, drop("spec", "strategy", "prePromotion", "template"),
		"a check is either a Job (template) or metric checks (metrics)"},
	{"a soak without metrics", siteYAML, set(map[string]any{"metrics": []any{}}, "spec", "strategy", "soak"), "spec.strategy.soak.metrics"},
	{"a metric check with prometheus and web", siteYAML, withMetric(func(m map[string]any) {
		m["web"] = map[string]any{"url": "http://shop/health"}
	}), "a metric check reads either prometheus or web"},
	{"a prometheus check without an address", siteYAML, withMetric(func(m map[string]any) {
		delete(m["prometheus"].(map[string]any), "address")
	}), "set exactly one of prometheus.address and prometheus.addressFrom"},
	{"a metric check without successCondition", siteYAML, withMetric(func(m map[string]any) { delete(m, "successCondition") }),
		"spec.strategy.postPromotion.metrics[0].successCondition"},
	{"a metric check with count 0", siteYAML, withMetric(func(m map[string]any) { m["count"] = int64(0) }),
		"spec.strategy.postPromotion.metrics[0].count"},
	{"a metric check interval not a duration", siteYAML, withMetric(func(m map[string]any) { m["interval"] = "often" }),
		"spec.strategy.postPromotion.metrics[0].interval"},
	{"a web header with a value and a Secret", siteYAML, withMetric(func(m map[string]any) {
		delete(m, "prometheus")
		m["web"] = map[string]any{"url": "http://shop/health", "headers": []any{map[string]any{"name": "Authorization", "value": "x",
			"valueFrom": map[string]any{"name": "s", "key": "k"}}}}
	}), "set exactly one of value and valueFrom"},
	{"a metric check named twice", siteYAML, func(o map[string]any) {
		set([]any{promMetric(), promMetric()}, "spec", "strategy", "postPromotion", "metrics")(o)
	}, "spec.strategy.postPromotion.metrics[1]: Duplicate value"},

	{"refresh name too long for its CronJob's Jobs", refreshYAML, set(strings.Repeat("a", 53), "metadata", "name"), "metadata.name"},
	{"copyTimeout not a duration", siteYAML, set("half an hour", "spec", "database", "copyTimeout"), "spec.database.copyTimeout"},
	{"refresh with both sources", refreshYAML, set(map[string]any{"volume": map[string]any{"emptyDir": map[string]any{}}}, "spec", "source", "backup"), "spec.source"},
	{"refresh with neither source", refreshYAML, drop("spec", "source", "database"), "spec.source"},
	{"cron minute 61", refreshYAML, set("61 * * * *", "spec", "schedule"), "spec.schedule"},
	{"cron with three fields", refreshYAML, set("* * *", "spec", "schedule"), "spec.schedule"},
	{"cron hour 24", refreshYAML, set("0 24 * * *", "spec", "schedule"), "spec.schedule"},
	{"missing schedule", refreshYAML, drop("spec", "schedule"), "spec.schedule"},
	{"time zone that is not a zone name", refreshYAML, set("UTC+2 hours", "spec", "timeZone"), "spec.timeZone"},
	{"keepPrevious below zero", refreshYAML, set(int64(-1), "spec", "keepPrevious"), "spec.keepPrevious"},
	{"keepPrevious above the cap", refreshYAML, set(int64(11), "spec", "keepPrevious"), "spec.keepPrevious"},
	{"target equal to the live source", refreshYAML, func(o map[string]any) {
		set("shop-replica", "spec", "target", "connectionSecretRef", "name")(o)
		set("shop", "spec", "target", "name")(o)
	}, "spec.target"},
	{"target name not an identifier", refreshYAML, set("shop-dev", "spec", "target", "name"), "spec.target.name"},
	{"sanitize entry with sql and a ConfigMap", refreshYAML, set([]any{map[string]any{
		"sql":             "SELECT 1",
		"configMapKeyRef": map[string]any{"name": "scrub", "key": "scrub.sql"},
	}}, "spec", "sanitize"), "spec.sanitize[0]"},
	{"restoreJobs zero", refreshYAML, set(int64(0), "spec", "restoreJobs"), "spec.restoreJobs"},
	{"mask with both builtin and sql", refreshYAML, maskOf(map[string]any{"column": "email", "builtin": "Email", "sql": "'x'"}), "each mask sets exactly one of builtin or sql"},
	{"mask with neither builtin nor sql", refreshYAML, maskOf(map[string]any{"column": "email"}), "each mask sets exactly one of builtin or sql"},
	{"unknown builtin mask", refreshYAML, maskOf(map[string]any{"column": "email", "builtin": "Ssn"}), "spec.masking.tables[0].mask[0].builtin"},
	{"masking table without its schema", refreshYAML, tableOf(map[string]any{"name": "users", "truncate": true}), "spec.masking.tables[0].name"},
	{"masking table that truncates and keeps", refreshYAML, tableOf(map[string]any{"name": "public.users", "truncate": true, "keep": []any{"id"}}),
		"sets truncate: true, or lists its columns under keep and mask, not both"},
	{"masking table that classifies nothing", refreshYAML, tableOf(map[string]any{"name": "public.users"}),
		"sets truncate: true, or lists its columns under keep and mask, not both"},
	{"column kept and masked", refreshYAML, tableOf(map[string]any{"name": "public.users", "keep": []any{"email"},
		"mask": []any{map[string]any{"column": "email", "builtin": "Email"}}}), "a column is listed under both keep and mask"},
	{"masking table named twice", refreshYAML, set([]any{map[string]any{"name": "public.t", "truncate": true}, map[string]any{"name": "public.t", "truncate": true}},
		"spec", "masking", "tables"), "spec.masking.tables[1]: Duplicate value"},
}

// tableOf replaces spec.masking.tables with one table entry.
func tableOf(table map[string]any) func(map[string]any) {
	return set([]any{table}, "spec", "masking", "tables")
}

// maskOf replaces the first masking table with public.users masking one column.
func maskOf(mask map[string]any) func(map[string]any) {
	return tableOf(map[string]any{"name": "public.users", "mask": []any{mask}})
}

// promMetric is a valid Prometheus metric check.
func promMetric() map[string]any {
	return map[string]any{"name": "error-rate", "successCondition": "result[0] < 0.05",
		"prometheus": map[string]any{"address": "http://prometheus:9090", "query": "rate(errors[1m])"}}
}

// withMetric sets spec.strategy.postPromotion to one metric check that
// mutate makes invalid.
func withMetric(mutate func(map[string]any)) func(map[string]any) {
	return func(o map[string]any) {
		m := promMetric()
		mutate(m)
		set(map[string]any{"metrics": []any{m}}, "spec", "strategy", "postPromotion")(o)
	}
}

func TestInvalidManifestsAreRejectedAtApply(t *testing.T) {
	ns := namespace(t, "invalid")
	if len(invalidCases) < 20 {
		t.Fatalf("only %d invalid cases", len(invalidCases))
	}
	for _, c := range invalidCases {
		t.Run(c.name, func(t *testing.T) {
			obj := decode(t, c.base)
			c.mutate(obj.Object)
			obj.SetNamespace(ns)
			err := env.Client.Create(context.Background(), obj)
			if err == nil {
				t.Fatalf("the API server accepted an invalid %s", obj.GetKind())
			}
			if !strings.Contains(err.Error(), c.wantField) {
				t.Fatalf("error does not name %s:\n%v", c.wantField, err)
			}
		})
	}
}

func TestBaseManifestsAreAccepted(t *testing.T) {
	// The bases of the invalid table must themselves be valid, or every
	// rejection above could be for the wrong reason.
	ns := namespace(t, "bases")
	for _, doc := range []string{siteYAML, refreshYAML} {
		obj := decode(t, doc)
		obj.SetNamespace(ns)
		if err := env.Client.Create(context.Background(), obj); err != nil {
			t.Fatalf("valid %s rejected: %v", obj.GetKind(), err)
		}
	}
}

func TestMetricChecksAreAccepted(t *testing.T) {
	// withMetric's base (one valid check) must pass, as must a check of
	// every kind with every field set.
	ns := namespace(t, "metrics")
	obj := decode(t, siteYAML)
	withMetric(func(map[string]any) {})(obj.Object)
	set(map[string]any{"metrics": []any{map[string]any{
		"name": "status", "successCondition": "result == 'ok'", "interval": "10s", "count": int64(3),
		"failureLimit": int64(1), "inconclusiveLimit": int64(1), "timeout": "5s",
		"web": map[string]any{"url": "https://shop-preview/health?rev={{revision}}", "jsonPath": "{$.status}",
			"headers": []any{map[string]any{"name": "Authorization", "valueFrom": map[string]any{"name": "shop-token", "key": "token"}}}},
	}}}, "spec", "strategy", "prePromotion")(obj.Object)
	set(map[string]any{"metrics": []any{map[string]any{
		"name": "latency", "successCondition": "result[0] < 0.3",
		"prometheus": map[string]any{"addressFrom": map[string]any{"name": "prom", "key": "url"}, "query": "q",
			"auth": map[string]any{"basicFrom": map[string]any{"name": "prom-basic"}}},
	}}}, "spec", "strategy", "soak")(obj.Object)
	obj.SetNamespace(ns)
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("metric checks rejected: %v", err)
	}
}
