package nodeagent

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// containerEnv is the environment of a container: a minimal base, the
// in-cluster API server on loopback, the pod's loopback address (HOST, and
// LISTEN_ADDR for the first declared port), then envFrom and env with their
// references resolved and $(VAR) expanded, later entries winning.
func (r *podRunner) containerEnv(ctx context.Context, c *corev1.Container) (map[string]string, error) {
	pod := r.latest()
	env := map[string]string{
		"PATH":                            envOr("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
		"HOME":                            envOr("HOME", "/root"),
		"HOSTNAME":                        pod.Name,
		"KUBERNETES_SERVICE_HOST":         r.a.apiHost,
		"KUBERNETES_SERVICE_PORT":         r.a.apiPort,
		"KUBERNETES_SERVICE_PORT_HTTPS":   r.a.apiPort,
		"KUBERNETES_PORT":                 "tcp://" + r.a.apiHost + ":" + r.a.apiPort,
		"HOST":                            r.lo,
		"POD_IP":                          r.lo,
		r.a.opts.MarkerEnv:                r.a.opts.Marker,
		"UNDERSTUDY_POD":                  pod.Namespace + "/" + pod.Name,
		"UNDERSTUDY_POD_LOOPBACK_ADDRESS": r.lo,
	}
	delete(env, "")
	if len(c.Ports) > 0 {
		env["LISTEN_ADDR"] = fmt.Sprintf("%s:%d", r.lo, c.Ports[0].ContainerPort)
		env["PORT"] = strconv.Itoa(int(c.Ports[0].ContainerPort))
	}
	src := &refSource{ctx: ctx, r: r, ns: pod.Namespace}
	for _, from := range c.EnvFrom {
		data, err := src.envFrom(from)
		if err != nil {
			return nil, err
		}
		for k, v := range data {
			env[from.Prefix+k] = v
		}
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = expand(e.Value, lookup)
			continue
		}
		v, ok, err := src.value(pod, c, e.ValueFrom)
		if err != nil {
			return nil, err
		}
		if ok {
			env[e.Name] = v
		}
	}
	return env, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// envList turns the environment map into KEY=value entries, sorted.
func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// refSource reads the Secrets and ConfigMaps a container refers to.
type refSource struct {
	ctx context.Context
	r   *podRunner
	ns  string
}

func (s *refSource) configMap(name string, optional *bool) (map[string]string, error) {
	cm, err := s.r.a.cs.CoreV1().ConfigMaps(s.ns).Get(s.ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return nil, nil
	}
	if err != nil {
		return nil, &configError{fmt.Errorf("configmap %q: %w", name, err)}
	}
	out := map[string]string{}
	for k, v := range cm.BinaryData {
		out[k] = string(v)
	}
	for k, v := range cm.Data {
		out[k] = v
	}
	return out, nil
}

func (s *refSource) secret(name string, optional *bool) (map[string]string, error) {
	sec, err := s.r.a.cs.CoreV1().Secrets(s.ns).Get(s.ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return nil, nil
	}
	if err != nil {
		return nil, &configError{fmt.Errorf("secret %q: %w", name, err)}
	}
	out := map[string]string{}
	for k, v := range sec.Data {
		out[k] = string(v)
	}
	for k, v := range sec.StringData {
		out[k] = v
	}
	return out, nil
}

func (s *refSource) envFrom(from corev1.EnvFromSource) (map[string]string, error) {
	switch {
	case from.ConfigMapRef != nil:
		return s.configMap(from.ConfigMapRef.Name, from.ConfigMapRef.Optional)
	case from.SecretRef != nil:
		return s.secret(from.SecretRef.Name, from.SecretRef.Optional)
	}
	return nil, nil
}

// value resolves one valueFrom; ok is false for an optional key that is absent.
func (s *refSource) value(pod *corev1.Pod, c *corev1.Container, from *corev1.EnvVarSource) (string, bool, error) {
	keyOf := func(data map[string]string, kind, name, key string, optional *bool) (string, bool, error) {
		v, ok := data[key]
		if !ok {
			if optional != nil && *optional {
				return "", false, nil
			}
			return "", false, &configError{fmt.Errorf("key %q not found in %s %q", key, kind, name)}
		}
		return v, true, nil
	}
	switch {
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		data, err := s.secret(ref.Name, ref.Optional)
		if err != nil {
			return "", false, err
		}
		return keyOf(data, "secret", ref.Name, ref.Key, ref.Optional)
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		data, err := s.configMap(ref.Name, ref.Optional)
		if err != nil {
			return "", false, err
		}
		return keyOf(data, "configmap", ref.Name, ref.Key, ref.Optional)
	case from.FieldRef != nil:
		v, err := s.r.fieldValue(pod, from.FieldRef.FieldPath)
		return v, err == nil, err
	case from.ResourceFieldRef != nil:
		q, ok := c.Resources.Limits[corev1.ResourceName(strings.TrimPrefix(from.ResourceFieldRef.Resource, "limits."))]
		if !ok {
			return "0", true, nil
		}
		return q.String(), true, nil
	}
	return "", false, nil
}

// fieldValue answers a downward-API field path. status.podIP is the pod's
// loopback address: programs bind and dial it, never the reported pod IP.
func (r *podRunner) fieldValue(pod *corev1.Pod, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return r.lo, nil
	case "status.hostIP", "status.hostIPs":
		return "127.0.0.1", nil
	}
	for prefix, m := range map[string]map[string]string{"metadata.labels": pod.Labels, "metadata.annotations": pod.Annotations} {
		if strings.HasPrefix(path, prefix+"['") && strings.HasSuffix(path, "']") {
			return m[strings.TrimSuffix(strings.TrimPrefix(path, prefix+"['"), "']")], nil
		}
	}
	return "", &configError{fmt.Errorf("unsupported field path %q", path)}
}

// expand replaces $(VAR) with the variable's value ($$ escapes a dollar);
// unknown variables stay as written, as in Kubernetes.
func expand(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// resolveArgv is the program and arguments for a container. An image
// `local/<name>[:tag]` stands for the program <name> in binDir (its
// entrypoint; command overrides it, args are appended). Any other image
// needs a command, whose first word is looked up on PATH.
func resolveArgv(c *corev1.Container, binDir string, env map[string]string) ([]string, error) {
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	var command, args []string
	for _, s := range c.Command {
		command = append(command, expand(s, lookup))
	}
	for _, s := range c.Args {
		args = append(args, expand(s, lookup))
	}
	if name, ok := strings.CutPrefix(c.Image, LocalImagePrefix); ok {
		name, _, _ = strings.Cut(name, "@")
		name, _, _ = strings.Cut(name, ":")
		if len(command) == 0 {
			command = []string{filepath.Join(binDir, name)}
		} else if !strings.Contains(command[0], "/") {
			if p := filepath.Join(binDir, command[0]); isExecutable(p) {
				command[0] = p
			}
		}
	}
	if len(command) == 0 {
		return nil, fmt.Errorf("image %q has no local program: give the container a command or use an image %s<program>: %w",
			c.Image, LocalImagePrefix, errNotRunnable)
	}
	p, err := exec.LookPath(command[0])
	if err != nil {
		return nil, fmt.Errorf("cannot find program %q for container %s: %w", command[0], c.Name, err)
	}
	command[0] = p
	return append(command, args...), nil
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}
