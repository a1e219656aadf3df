package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// table asks the API server for what `kubectl get <resource>` prints.
func table(t *testing.T, ns, resource string) map[string]map[string]string {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.GroupVersion = &v1.GroupVersion
	cfg.APIPath = "/apis"
	cfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	rc, err := rest.RESTClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rc.Get().Namespace(ns).Resource(resource).
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(context.Background())
	if err != nil {
		t.Fatalf("kubectl get %s: %v", resource, err)
	}
	var tbl metav1.Table
	if err := json.Unmarshal(raw, &tbl); err != nil {
		t.Fatal(err)
	}
	rows := map[string]map[string]string{}
	for _, r := range tbl.Rows {
		row := map[string]string{}
		for i, c := range tbl.ColumnDefinitions {
			row[strings.ToUpper(c.Name)] = fmt.Sprint(r.Cells[i])
		}
		rows[row["NAME"]] = row
	}
	return rows
}

func TestKubectlGetSiteDeploymentShowsTheRelease(t *testing.T) {
	s, r1 := healthySite(t)
	s.release("shop:2")
	r2 := s.revision()
	s.waitReplicas(v1.Green, 2)
	s.waitPhase(v1.PhaseProgressing)
	row := table(t, s.ns, "sitedeployments")["shop"]
	want := map[string]string{"ACTIVE": "blue", "ACTIVE-REV": r1, "PREVIEW-REV": r2, "PHASE": "Progressing", "READY": "2/2"}
	for col, v := range want {
		if row[col] != v {
			t.Errorf("column %s = %q, want %q (row %v)", col, row[col], v, row)
		}
	}
	if row["AGE"] == "" || row["AGE"] == "<nil>" {
		t.Errorf("AGE empty: %v", row)
	}
}
