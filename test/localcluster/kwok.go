package localcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// KwokNodeLabel marks the Nodes kwok plays the kubelet of.
const KwokNodeLabel = "understudy.dev/kwok"

// kwokPodCIDR is where kwok takes pod IPs from: loopback, so that no test
// could ever send traffic off the machine to a simulated pod.
const kwokPodCIDR = "127.240.0.0/16"

// StartKwok creates n Nodes and runs kwok for them: the scheduler places
// pods on them and kwok marks those pods Running and Ready at once (no
// process runs), while kube-controller-manager does Deployments and
// ReplicaSets for real. For scale tests: thousands of pods cost a few KB
// each. The assets dir must hold kwok (`make cluster-tools` builds it).
func (c *Cluster) StartKwok(ctx context.Context, n int) error {
	return c.StartKwokWith(ctx, n, KwokOptions{})
}

// KwokOptions change what kwok's pods report.
type KwokOptions struct {
	// ImageIDs makes every container report an imageID with a digest, as
	// a real kubelet does: an image named by digest reports that digest,
	// a tag the sha256 of its name (one digest per tag).
	ImageIDs bool
}

// StartKwokWith is StartKwok with options.
func (c *Cluster) StartKwokWith(ctx context.Context, n int, o KwokOptions) error {
	bin := filepath.Join(c.assets, "kwok")
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("kwok is missing from %s: build it with `make cluster-tools`", c.assets)
	}
	// A config of its own (kwok's default stages: nodes Ready, pods Ready
	// at once), so that nothing under ~/.kwok changes what it does.
	config := filepath.Join(c.Dir, "kwok.yaml")
	cfg := strings.Replace(kwokConfig, "{{ .image | Quote }},", "{{ .image | Quote }},"+imageIDField(o.ImageIDs), 1)
	if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
		return err
	}
	if err := c.start(c.assets, "kwok", "--kubeconfig", c.Kubeconfig, "--config", config,
		"--manage-nodes-with-label-selector", KwokNodeLabel+"=true", "--cidr", kwokPodCIDR, "--node-ip", "127.0.0.1"); err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if _, err := cs.CoreV1().Nodes().Create(ctx, kwokNode(fmt.Sprintf("kwok-%d", i)), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("cannot create kwok node: %w", err)
		}
	}
	for i := 0; i < n; i++ {
		if err := waitKwokPlays(ctx, cs, fmt.Sprintf("kwok-%d", i)); err != nil {
			return fmt.Errorf("%w: see %s", err, c.LogPath("kwok"))
		}
	}
	return nil
}

// waitKwokPlays returns once kwok runs pods on node: a probe pod bound to it
// turns Running. kwok skips a pod whose node it does not manage yet and
// never looks at it again, so pods created in the first moments after a
// node may stay Pending forever; a probe that is not played within a few
// seconds is replaced until one is.
func waitKwokPlays(ctx context.Context, cs kubernetes.Interface, node string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	pods := cs.CoreV1().Pods(metav1.NamespaceSystem)
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "kwok-probe-" + node},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "probe", Image: "probe"}},
			Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}},
	}
	now := metav1.DeleteOptions{GracePeriodSeconds: new(int64)}
	for {
		if _, err := pods.Create(ctx, probe, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("cannot create kwok's probe pod on %s: %w", node, err)
		}
		played := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
			p, err := pods.Get(ctx, probe.Name, metav1.GetOptions{})
			return err == nil && p.Status.Phase == corev1.PodRunning, nil
		})
		if err := pods.Delete(context.WithoutCancel(ctx), probe.Name, now); err != nil {
			return fmt.Errorf("cannot delete kwok's probe pod on %s: %w", node, err)
		}
		if played == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("kwok runs no pod on node %s", node)
		}
	}
}

// kwokConfig holds the three stages the scale tests need (kwok runs none
// by default): a node turns Ready; a scheduled pod turns Running and Ready
// with an IP from --cidr; a pod being deleted goes at once.
const kwokConfig = `apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options: {podPlayStageParallelism: 16, nodePlayStageParallelism: 4, nodeLeaseParallelism: 4, nodeLeaseDurationSeconds: 40}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: node-ready}
spec:
  resourceRef: {apiGroup: v1, kind: Node}
  selector:
    matchExpressions:
    - {key: '.status.conditions.[] | select( .type == "Ready" ) | .status', operator: NotIn, values: ['True']}
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      {{ range NodeConditions }}
      - {type: {{ .type | Quote }}, status: {{ .status | Quote }}, reason: {{ .reason | Quote }}, message: {{ .message | Quote }}, lastHeartbeatTime: {{ $now | Quote }}, lastTransitionTime: {{ $now | Quote }}}
      {{ end }}
      addresses:
      - {type: InternalIP, address: {{ NodeIP | Quote }}}
      phase: Running
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: pod-ready}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: '.metadata.deletionTimestamp', operator: DoesNotExist}
    - {key: '.status.podIP', operator: DoesNotExist}
  next:
    statusTemplate: |
      {{ $now := Now }}
      phase: Running
      startTime: {{ $now | Quote }}
      hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
      podIP: {{ PodIPWith .spec.nodeName false .metadata.uid .metadata.name .metadata.namespace | Quote }}
      conditions:
      {{ range list "PodScheduled" "Initialized" "ContainersReady" "Ready" }}
      - {type: {{ . }}, status: "True", lastTransitionTime: {{ $now | Quote }}}
      {{ end }}
      containerStatuses:
      {{ range .spec.containers }}
      - {name: {{ .name | Quote }}, image: {{ .image | Quote }}, ready: true, started: true, restartCount: 0, state: {running: {startedAt: {{ $now | Quote }}}}}
      {{ end }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: pod-delete}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: '.metadata.deletionTimestamp', operator: Exists}
  next:
    finalizers: {empty: true}
    delete: true
`

// imageIDField is the containerStatuses' imageID in kwok's pod-ready
// stage (its templates have sprig's functions); "" reports none.
func imageIDField(on bool) string {
	if !on {
		return ""
	}
	return ` imageID: {{ if contains "@" .image }}{{ .image | Quote }}{{ else }}{{ printf "%s@sha256:%s" .image (sha256sum .image) | Quote }}{{ end }},`
}

func kwokNode(name string) *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("1000"), corev1.ResourceMemory: resource.MustParse("4Ti"),
		corev1.ResourcePods: resource.MustParse("10000"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{KwokNodeLabel: "true", corev1.LabelHostname: name},
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"}},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
}
