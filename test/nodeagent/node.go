package nodeagent

import (
	"context"
	"fmt"
	"runtime"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

const (
	heartbeatEvery   = 10 * time.Second
	leaseDuration    = 40
	nodeStatusEvery  = 30 * time.Second
	kubeletVersion   = "v1.37.2"
	runtimeVersion   = "understudy-nodeagent://0.1"
	nodeLeaseNS      = "kube-node-lease"
	nodeCapacityPods = "250"
)

// registerNode creates (or refreshes) the agent's Node, Ready and roomy
// enough for many pods.
func (a *Agent) registerNode(ctx context.Context) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: a.opts.NodeName,
			Labels: map[string]string{
				"kubernetes.io/hostname": a.opts.NodeName, "kubernetes.io/os": "linux",
				"kubernetes.io/arch": runtime.GOARCH, "understudy.dev/node-agent": "true",
			},
		},
		Status: a.nodeStatus(),
	}
	_, err := a.cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("cannot register node %s: %w", a.opts.NodeName, err)
	}
	// The node controllers touch a new Node at once: write status on the latest version.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		latest, err := a.cs.CoreV1().Nodes().Get(ctx, a.opts.NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		latest.Status = a.nodeStatus()
		_, err = a.cs.CoreV1().Nodes().UpdateStatus(ctx, latest, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("cannot set status of node %s: %w", a.opts.NodeName, err)
	}
	return nil
}

func (a *Agent) nodeStatus() corev1.NodeStatus {
	now := metav1.Now()
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("32"),
		corev1.ResourceMemory:           resource.MustParse("128Gi"),
		corev1.ResourceEphemeralStorage: resource.MustParse("200Gi"),
		corev1.ResourcePods:             resource.MustParse(nodeCapacityPods),
	}
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	return corev1.NodeStatus{
		Capacity: capacity, Allocatable: capacity,
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeReady, corev1.ConditionTrue, "NodeAgentReady"),
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "NodeAgentHasSufficientMemory"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "NodeAgentHasNoDiskPressure"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "NodeAgentHasSufficientPID"),
		},
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "127.0.0.1"},
			{Type: corev1.NodeHostName, Address: a.opts.NodeName},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(a.logsPort)}},
		NodeInfo: corev1.NodeSystemInfo{
			KubeletVersion: kubeletVersion, ContainerRuntimeVersion: runtimeVersion,
			OperatingSystem: "linux", Architecture: runtime.GOARCH,
		},
	}
}

// heartbeat renews the node Lease every 10 s and refreshes the Ready
// condition every 30 s, so the node lifecycle controller never marks it
// NotReady, until ctx ends.
func (a *Agent) heartbeat(ctx context.Context) {
	lastStatus := time.Now()
	for {
		if err := a.renewLease(ctx); err != nil && ctx.Err() == nil {
			a.opts.Log.Error(err, "cannot renew node lease")
		}
		if time.Since(lastStatus) >= nodeStatusEvery {
			if err := a.registerNode(ctx); err != nil && ctx.Err() == nil {
				a.opts.Log.Error(err, "cannot refresh node status")
			}
			lastStatus = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(heartbeatEvery):
		}
	}
}

func (a *Agent) renewLease(ctx context.Context) error {
	leases := a.cs.CoordinationV1().Leases(nodeLeaseNS)
	now := metav1.NewMicroTime(time.Now())
	lease, err := leases.Get(ctx, a.opts.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: a.opts.NodeName},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity: ptr.To(a.opts.NodeName), LeaseDurationSeconds: ptr.To[int32](leaseDuration),
				RenewTime: &now,
			},
		}, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	lease.Spec.RenewTime = &now
	lease.Spec.HolderIdentity = ptr.To(a.opts.NodeName)
	_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	return err
}
