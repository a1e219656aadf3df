package refreshjob

import (
	"encoding/json"
	"path"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/masking"
)

// MaskingKey is the sanitize ConfigMap's key holding spec.masking as the
// runner reads it (not a *.sql file: the sanitize step skips it).
const MaskingKey = "masking.json"

// MaskingPolicy is spec.masking in the runner's terms.
func MaskingPolicy(m *deployv1alpha1.MaskingPolicy) masking.Policy {
	p := masking.Policy{Tables: make([]masking.Table, 0, len(m.Tables))}
	for _, t := range m.Tables {
		mt := masking.Table{Name: t.Name, Truncate: t.Truncate, Keep: append([]string(nil), t.Keep...)}
		for _, c := range t.Mask {
			mt.Mask = append(mt.Mask, masking.Mask{Column: c.Column, Builtin: string(c.Builtin), SQL: c.SQL})
		}
		p.Tables = append(p.Tables, mt)
	}
	return p
}

// withMasking adds spec.masking to the sanitize ConfigMap's data.
func withMasking(dr *deployv1alpha1.DatabaseRefresh, data map[string]string) map[string]string {
	if dr.Spec.Masking == nil {
		return data
	}
	raw, err := json.Marshal(MaskingPolicy(dr.Spec.Masking))
	if err != nil { // plain strings and bools only
		panic(err)
	}
	out := make(map[string]string, len(data)+1)
	for k, v := range data {
		out[k] = v
	}
	out[MaskingKey] = string(raw)
	return out
}

// maskingArgs are the runner's flags for spec.masking.
func maskingArgs(dr *deployv1alpha1.DatabaseRefresh) []string {
	if dr.Spec.Masking == nil {
		return nil
	}
	return []string{"--masking", path.Join(SanitizeMountPath, MaskingKey)}
}

// maskingCheck is the runner's masking report as status records it.
func maskingCheck(r *masking.Report) *deployv1alpha1.MaskingCheck {
	if r == nil {
		return nil
	}
	return &deployv1alpha1.MaskingCheck{
		Columns:      int32(r.Columns),
		Unclassified: masking.Bounded(r.Unclassified), UnclassifiedCount: int32(r.UnclassifiedCount),
		Unknown: masking.Bounded(r.Unknown), UnknownCount: int32(r.UnknownCount),
	}
}
