package main

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/test/testenv"
)

// A manager started before the API server serves its CRDs (a fresh
// `kubectl apply -k config/default` applies them a moment before the
// Deployment) waits for them instead of exiting, and comes up once they are
// installed: it reconciles a DatabaseRefresh created afterwards.
func TestManagerStartedBeforeItsCRDsWaitsForThem(t *testing.T) {
	env, err := testenv.StartWithoutCRDs()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	kubeconfig := env.KubeconfigFile(t)
	t.Setenv("KUBECONFIG", kubeconfig)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, options{metricsAddr: "0", probeAddr: "0", namespaces: "", runnerImage: "example.invalid/runner:test",
			qps: 50, burst: 100, workers: 1})
	}()
	// Without its kinds the manager waits: it has not exited a few seconds on.
	select {
	case err := <-done:
		t.Fatalf("the manager exited while its CRDs were not installed: %v", err)
	case <-time.After(3 * time.Second):
	}
	if err := env.InstallCRDs(); err != nil {
		t.Fatal(err)
	}

	c := env.Client
	bg := context.Background()
	if err := c.Create(bg, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dev"}}); err != nil {
		t.Fatal(err)
	}
	dr := &v1.DatabaseRefresh{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "dev"},
		Spec: v1.DatabaseRefreshSpec{
			Schedule: "0 3 * * *",
			Source:   v1.RefreshSource{Database: &v1.LiveDatabaseSource{ConnectionSecretRef: v1.SecretReference{Name: "replica"}, Name: "shop"}},
			Target:   v1.RefreshTarget{ConnectionSecretRef: v1.SecretReference{Name: "dev-admin"}, Name: "shop_dev", Owner: "shop_dev"},
		},
	}
	if err := c.Create(bg, dr); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(time.Minute)
	for {
		select {
		case err := <-done:
			t.Fatalf("the manager exited: %v", err)
		case <-deadline:
			t.Fatalf("the DatabaseRefresh created after the CRDs was not reconciled: status %+v", dr.Status)
		case <-time.After(200 * time.Millisecond):
		}
		if err := c.Get(bg, client.ObjectKeyFromObject(dr), dr); err != nil {
			t.Fatal(err)
		}
		if dr.Status.ObservedGeneration == dr.Generation && len(dr.Status.Conditions) > 0 {
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("the manager ended with %v", err)
	}
}
