package metrics

import (
	"os"
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/yaml"
)

// The alerts config/prometheus ships query only metrics understudy
// serves, so a renamed metric cannot leave an alert that never fires.
func TestTheShippedAlertsQueryServedMetrics(t *testing.T) {
	raw, err := os.ReadFile("../../config/prometheus/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert, Expr string
				}
			}
		}
	}
	if err := yaml.Unmarshal(raw, &rule); err != nil {
		t.Fatal(err)
	}
	m, _ := newMetrics(t)
	served := map[string]bool{}
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for _, c := range m.collectors() {
		descs := make(chan *prometheus.Desc, 1)
		go func() { c.Describe(descs); close(descs) }()
		for d := range descs {
			served[fqName.FindStringSubmatch(d.String())[1]] = true
		}
	}
	alerts := map[string]bool{}
	name := regexp.MustCompile(`understudy_[a-z_]+`)
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			for _, metric := range name.FindAllString(r.Expr, -1) {
				if !served[metric] {
					t.Errorf("alert %s queries %s, which understudy does not serve", r.Alert, metric)
				}
			}
		}
	}
	for _, want := range []string{"UnderstudyDevDataStale", "UnderstudySiteDegraded"} {
		if !alerts[want] {
			t.Errorf("config/prometheus/rules.yaml has no alert %s", want)
		}
	}
}
