package controllers_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/understudy-dev/understudy/controllers"
	"github.com/understudy-dev/understudy/test/poll"
	"github.com/understudy-dev/understudy/test/testenv"
)

// The suite runs both controllers in one manager against a real API server.
// There is no kube-controller-manager: tests play it by setting Deployment,
// Job and Pod status themselves.
var (
	env       *testenv.Env
	k8sClient client.Client // bypasses the manager's cache
	fakeClock *clocktesting.FakeClock
	wake      = make(chan event.GenericEvent, 1024)
	// runnerImage is the image the manager is told to run refreshes with.
	runnerImage = "example.invalid/understudy/refresh-runner:test"
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	var err error
	if env, err = testenv.Start(); err != nil {
		return 0, err
	}
	defer func() { _ = env.Stop() }()
	k8sClient = env.Client
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(os.Stderr), zap.Level(zapLevel())))

	fakeClock = clocktesting.NewFakeClock(time.Now())
	stop, err := startManager()
	if err != nil {
		return 0, err
	}
	stopManager = stop
	code := m.Run()
	if pgServer != nil {
		pgServer.Stop()
	}
	if err := stopManager(); err != nil {
		return code, fmt.Errorf("manager: %w", err)
	}
	return code, nil
}

// stopManager stops the running manager and reports how it ended.
var stopManager func() error

// startManager starts a manager with both controllers, as cmd/manager does.
func startManager() (stop func() error, err error) {
	cacheOpts, err := controllers.CacheOptions(nil)
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 scheme.Scheme,
		Cache:                  cacheOpts,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             ctrlconfig.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return nil, fmt.Errorf("cannot create manager: %w", err)
	}
	if err := controllers.Setup(mgr, controllers.Options{
		RunnerImage: runnerImage, Workers: 4, Clock: fakeClock, Wake: wake,
	}); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		cancel()
		return nil, fmt.Errorf("manager cache did not sync")
	}
	return func() error { cancel(); return <-done }, nil
}

// restartManager stops the manager as a crash would leave things (no final
// status write, background copies ended) and starts a new one, which knows
// only what it reads from the API server and PostgreSQL.
func restartManager(t *testing.T) {
	t.Helper()
	if err := stopManager(); err != nil {
		t.Fatalf("manager: %v", err)
	}
	stop, err := startManager()
	if err != nil {
		t.Fatal(err)
	}
	stopManager = stop
}

func zapLevel() zapcore.Level {
	if os.Getenv("TEST_VERBOSE") != "" {
		return -2
	}
	return 2 // errors only: the suite's output stays readable
}

// newNamespace creates a namespace of its own for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatalf("cannot create namespace: %v", err)
	}
	return ns.Name
}

// eventually retries check until it returns nil or the timeout passes. It
// polls the API server, never the manager's cache.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	poll.Until(t, what, 50*time.Millisecond, 20*time.Second, check)
}

// consistently asserts check keeps returning nil for a while.
func consistently(t *testing.T, what string, d time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if err := check(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// updateWithRetry re-reads obj and applies mutate until an Update succeeds
// (the controllers write status concurrently).
func updateWithRetry[T client.Object](t *testing.T, obj T, mutate func(T)) {
	t.Helper()
	eventually(t, "update "+obj.GetName(), func() error {
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		mutate(obj)
		return k8sClient.Update(context.Background(), obj)
	})
}

// annotate sets an annotation with a merge patch, as kubectl annotate does.
func annotate(t *testing.T, obj client.Object, k, v string) {
	t.Helper()
	patch := client.RawPatch(types.MergePatchType, []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, k, v)))
	if err := k8sClient.Patch(context.Background(), obj, patch); err != nil {
		t.Fatalf("cannot annotate %s: %v", obj.GetName(), err)
	}
}
