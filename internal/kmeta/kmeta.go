// Package kmeta holds the small helpers on Kubernetes object metadata that
// the planners and controllers share.
package kmeta

import "maps"

// Merge copies src's labels (or annotations) into dst, which it creates
// when nil, and returns it.
func Merge(dst, src map[string]string) map[string]string {
	if dst == nil {
		dst = map[string]string{}
	}
	maps.Copy(dst, src)
	return dst
}
