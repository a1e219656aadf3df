package nodeagent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// materializeVolumes gives every pod volume a directory on this machine:
// emptyDir, configMap, secret, projected and downwardAPI under the pod dir,
// hostPath as is, and a claim as its bound PersistentVolume's directory.
func (r *podRunner) materializeVolumes(ctx context.Context, pod *corev1.Pod) (map[string]string, error) {
	out := map[string]string{}
	src := &refSource{ctx: ctx, r: r, ns: pod.Namespace}
	for _, v := range pod.Spec.Volumes {
		dir := filepath.Join(r.dir, "volumes", v.Name)
		files := map[string]string{}
		var err error
		switch {
		case v.EmptyDir != nil:
		case v.HostPath != nil:
			dir = v.HostPath.Path
			t := ptr.Deref(v.HostPath.Type, corev1.HostPathUnset)
			if t == corev1.HostPathDirectoryOrCreate {
				err = os.MkdirAll(dir, 0o755)
			}
			out[v.Name] = dir
			if err != nil {
				return nil, err
			}
			continue
		case v.PersistentVolumeClaim != nil:
			if dir, err = r.claimDir(ctx, pod.Namespace, v.PersistentVolumeClaim.ClaimName); err != nil {
				return nil, err
			}
			out[v.Name] = dir
			continue
		case v.ConfigMap != nil:
			files, err = keyFiles(src.configMap(v.ConfigMap.Name, v.ConfigMap.Optional))(v.ConfigMap.Items)
		case v.Secret != nil:
			files, err = keyFiles(src.secret(v.Secret.SecretName, v.Secret.Optional))(v.Secret.Items)
		case v.DownwardAPI != nil:
			files, err = r.downwardFiles(pod, v.DownwardAPI.Items)
		case v.Projected != nil:
			files, err = r.projectedFiles(ctx, src, pod, v.Projected)
		default:
			return nil, &configError{fmt.Errorf("volume %q: this kind of volume is not supported by the local node agent", v.Name)}
		}
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		if err := writeFiles(dir, files); err != nil {
			return nil, err
		}
		out[v.Name] = dir
	}
	return out, nil
}

// keyFiles maps a ConfigMap's or Secret's keys to files, all keys or the items chosen.
func keyFiles(data map[string]string, err error) func([]corev1.KeyToPath) (map[string]string, error) {
	return func(items []corev1.KeyToPath) (map[string]string, error) {
		if err != nil {
			return nil, err
		}
		files := map[string]string{}
		if len(items) == 0 {
			for k, v := range data {
				files[k] = v
			}
			return files, nil
		}
		for _, it := range items {
			v, ok := data[it.Key]
			if !ok {
				return nil, &configError{fmt.Errorf("key %q not found", it.Key)}
			}
			files[it.Path] = v
		}
		return files, nil
	}
}

func (r *podRunner) downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile) (map[string]string, error) {
	files := map[string]string{}
	for _, it := range items {
		if it.FieldRef == nil {
			continue
		}
		v, err := r.fieldValue(pod, it.FieldRef.FieldPath)
		if err != nil {
			return nil, err
		}
		files[it.Path] = v
	}
	return files, nil
}

// projectedFiles includes the service-account token (requested from the API
// for this pod) that in-cluster clients read.
func (r *podRunner) projectedFiles(ctx context.Context, src *refSource, pod *corev1.Pod, p *corev1.ProjectedVolumeSource) (map[string]string, error) {
	files := map[string]string{}
	for _, s := range p.Sources {
		var part map[string]string
		var err error
		switch {
		case s.ConfigMap != nil:
			part, err = keyFiles(src.configMap(s.ConfigMap.Name, s.ConfigMap.Optional))(s.ConfigMap.Items)
		case s.Secret != nil:
			part, err = keyFiles(src.secret(s.Secret.Name, s.Secret.Optional))(s.Secret.Items)
		case s.DownwardAPI != nil:
			part, err = r.downwardFiles(pod, s.DownwardAPI.Items)
		case s.ServiceAccountToken != nil:
			var tok string
			tok, err = r.serviceAccountToken(ctx, pod, s.ServiceAccountToken)
			part = map[string]string{s.ServiceAccountToken.Path: tok}
		}
		if err != nil {
			return nil, err
		}
		for k, v := range part {
			files[k] = v
		}
	}
	return files, nil
}

func (r *podRunner) serviceAccountToken(ctx context.Context, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection) (string, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: p.ExpirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if p.Audience != "" {
		req.Spec.Audiences = []string{p.Audience}
	}
	tr, err := r.a.cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return "", &configError{fmt.Errorf("cannot get a token for service account %q: %w", sa, err)}
	}
	return tr.Status.Token, nil
}

// claimDir is the directory of the volume bound to a claim.
func (r *podRunner) claimDir(ctx context.Context, ns, claim string) (string, error) {
	pvc, err := r.a.cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
	if err != nil {
		return "", &configError{fmt.Errorf("claim %q: %w", claim, err)}
	}
	if pvc.Spec.VolumeName == "" {
		return "", &configError{fmt.Errorf("claim %q is not bound yet", claim)}
	}
	pv, err := r.a.cs.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", &configError{fmt.Errorf("volume %q: %w", pvc.Spec.VolumeName, err)}
	}
	switch {
	case pv.Spec.HostPath != nil:
		return pv.Spec.HostPath.Path, os.MkdirAll(pv.Spec.HostPath.Path, 0o777)
	case pv.Spec.Local != nil:
		return pv.Spec.Local.Path, nil
	}
	return "", &configError{fmt.Errorf("volume %q is neither hostPath nor local", pv.Name)}
}

func writeFiles(dir string, files map[string]string) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fmt.Errorf("cannot create volume dir: %w", err)
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			return fmt.Errorf("cannot write %s: %w", p, err)
		}
	}
	return nil
}

// mountpoints reference-counts the mount targets the agent had to create on
// the host (a bind mount needs an existing target), so that the last pod
// using one removes it again and nothing is left behind.
type mountpoints struct {
	mu   sync.Mutex
	refs map[string]int
}

func newMountpoints() *mountpoints { return &mountpoints{refs: map[string]int{}} }

// claim makes sure target exists (a directory, or a file when !dir) and
// returns the paths this call holds a reference on.
func (m *mountpoints) claim(target string, dir bool) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	target = filepath.Clean(target)
	var missing []string
	for p := target; ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil || p == "/" {
			break
		}
		missing = append(missing, p)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		p := missing[i]
		var err error
		if p == target && !dir {
			err = os.WriteFile(p, nil, 0o644)
		} else {
			err = os.Mkdir(p, 0o755)
		}
		if err != nil {
			return nil, fmt.Errorf("cannot create mount point %s: %w", p, err)
		}
	}
	var held []string
	for p := range m.refs {
		if p == target || isUnder(target, p) {
			held = append(held, p)
		}
	}
	held = append(held, missing...)
	for _, p := range held {
		m.refs[p]++
	}
	return dedupe(held), nil
}

// release drops references and removes the paths nobody holds any more,
// deepest first.
func (m *mountpoints) release(held []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var gone []string
	for _, p := range held {
		if m.refs[p]--; m.refs[p] <= 0 {
			delete(m.refs, p)
			gone = append(gone, p)
		}
	}
	sort.Slice(gone, func(i, j int) bool { return len(gone[i]) > len(gone[j]) })
	for _, p := range gone {
		_ = os.Remove(p)
	}
}

func isUnder(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != "." && !filepath.IsAbs(rel) && len(rel) >= 2 && rel[:2] != ".."
}

func dedupe(ps []string) []string {
	seen := map[string]bool{}
	out := ps[:0]
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}
