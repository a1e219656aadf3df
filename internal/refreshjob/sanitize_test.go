package refreshjob

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

func keyRef(name, key string) *corev1.ConfigMapKeySelector {
	return &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}
}

func TestSanitizeDataKeepsSpecOrder(t *testing.T) {
	steps := []deployv1alpha1.SanitizeStep{
		{SQL: "UPDATE users SET email = 'x'"},
		{ConfigMapKeyRef: keyRef("scrub", "scrub.sql")},
		{SQL: "TRUNCATE sessions"},
	}
	got, err := SanitizeData(steps, map[string]map[string]string{"scrub": {"scrub.sql": "DELETE FROM tokens"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"000.sql": "UPDATE users SET email = 'x'", "001.sql": "DELETE FROM tokens", "002.sql": "TRUNCATE sessions"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("data = %v, want %v", got, want)
	}
	if names := ReferencedConfigMaps(append(steps, deployv1alpha1.SanitizeStep{ConfigMapKeyRef: keyRef("scrub", "b")})); !reflect.DeepEqual(names, []string{"scrub"}) {
		t.Errorf("referenced = %v", names)
	}
}

func TestSanitizeDataMissingReference(t *testing.T) {
	steps := []deployv1alpha1.SanitizeStep{{SQL: "SELECT 1"}, {ConfigMapKeyRef: keyRef("scrub", "scrub.sql")}}
	if _, err := SanitizeData(steps, nil); err == nil || !strings.Contains(err.Error(), `spec.sanitize[1]: ConfigMap "scrub" not found`) {
		t.Errorf("missing ConfigMap: err = %v", err)
	}
	if _, err := SanitizeData(steps, map[string]map[string]string{"scrub": {}}); err == nil || !strings.Contains(err.Error(), `has no key "scrub.sql"`) {
		t.Errorf("missing key: err = %v", err)
	}
	steps[1].ConfigMapKeyRef.Optional = ptr.To(true)
	got, err := SanitizeData(steps, nil)
	if err != nil || !reflect.DeepEqual(got, map[string]string{"000.sql": "SELECT 1"}) {
		t.Errorf("optional missing: data = %v, err = %v", got, err)
	}
}
