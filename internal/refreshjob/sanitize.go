package refreshjob

import (
	"fmt"
	"sort"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// ReferencedConfigMaps are the names of the ConfigMaps spec.sanitize reads,
// sorted and without duplicates.
func ReferencedConfigMaps(steps []deployv1alpha1.SanitizeStep) []string {
	seen := map[string]bool{}
	var names []string
	for _, s := range steps {
		if s.ConfigMapKeyRef != nil && !seen[s.ConfigMapKeyRef.Name] {
			seen[s.ConfigMapKeyRef.Name] = true
			names = append(names, s.ConfigMapKeyRef.Name)
		}
	}
	sort.Strings(names)
	return names
}

// SanitizeKey is the file name of the step at index i: the runner applies
// the files in lexical order, which is spec order.
func SanitizeKey(i int) string { return fmt.Sprintf("%03d.sql", i) }

// SanitizeData is the content of the sanitize ConfigMap: one key per step,
// inline SQL copied, ConfigMap keys read from configMaps (name to data; a
// missing ConfigMap is absent). A missing ConfigMap or key that is not
// optional is an InvalidSpecError: dev must not get unsanitised data.
func SanitizeData(steps []deployv1alpha1.SanitizeStep, configMaps map[string]map[string]string) (map[string]string, error) {
	data := make(map[string]string, len(steps))
	for i, s := range steps {
		if s.ConfigMapKeyRef == nil {
			data[SanitizeKey(i)] = s.SQL
			continue
		}
		ref := s.ConfigMapKeyRef
		optional := ref.Optional != nil && *ref.Optional
		cm, found := configMaps[ref.Name]
		if !found {
			if optional {
				continue
			}
			return nil, invalidf("spec.sanitize[%d]: ConfigMap %q not found; create it or remove the step", i, ref.Name)
		}
		sql, found := cm[ref.Key]
		if !found {
			if optional {
				continue
			}
			return nil, invalidf("spec.sanitize[%d]: ConfigMap %q has no key %q", i, ref.Name, ref.Key)
		}
		data[SanitizeKey(i)] = sql
	}
	return data, nil
}
