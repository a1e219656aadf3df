//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/understudy-dev/understudy/test/nodeagent"
)

// traffic sends requests without pause to a Service, resolving it through
// its EndpointSlices before every request, as a client of the local cluster
// must. Every failure is recorded: nothing is retried.
type traffic struct {
	ns, svc string
	http    *http.Client
	// api has its own rate limits: the shared client's 5 requests/s would
	// throttle the loop to a couple of requests per second.
	api kubernetes.Interface

	mu       sync.Mutex
	samples  []sample
	failures []string

	cancel context.CancelFunc
	done   chan struct{}
}

type sample struct {
	at      time.Time
	version string
}

// startTraffic starts the client; it stops when the test ends at the latest.
func startTraffic(t testing.TB, ns, svc string) *traffic {
	ctx, cancel := context.WithCancel(context.Background())
	tr := &traffic{ns: ns, svc: svc, cancel: cancel, done: make(chan struct{}),
		// A fresh connection per request: a reused keep-alive connection
		// that a stopping server closes would be retried by the transport.
		http: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 1000, 2000
	var err error
	if tr.api, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	go tr.run(ctx)
	t.Cleanup(tr.stop)
	return tr
}

func (tr *traffic) run(ctx context.Context) {
	defer close(tr.done)
	for ctx.Err() == nil {
		version, err := tr.once(ctx)
		if ctx.Err() != nil {
			return
		}
		tr.mu.Lock()
		if err != nil {
			tr.failures = append(tr.failures, time.Now().Format("15:04:05.000")+" "+err.Error())
		} else {
			tr.samples = append(tr.samples, sample{at: time.Now(), version: version})
		}
		tr.mu.Unlock()
	}
}

func (tr *traffic) once(ctx context.Context) (string, error) {
	addrs, err := tr.endpoints(ctx)
	if err != nil {
		return "", fmt.Errorf("resolve: %w", err)
	}
	if len(addrs) == 0 {
		return "", fmt.Errorf("no ready endpoint")
	}
	addr := addrs[rand.IntN(len(addrs))]
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	resp, err := tr.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("%s: %w", addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: status %d: %s", addr, resp.StatusCode, body)
	}
	var v struct{ Version string }
	if err := json.Unmarshal(body, &v); err != nil {
		return "", fmt.Errorf("%s: %w", addr, err)
	}
	return v.Version, nil
}

// endpoints resolves the Service as env.ServiceEndpoints does (ready
// EndpointSlice endpoints -> their pods' loopback addresses), with two API
// calls on the traffic's own client.
func (tr *traffic) endpoints(ctx context.Context) ([]string, error) {
	slices, err := tr.api.DiscoveryV1().EndpointSlices(tr.ns).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + tr.svc})
	if err != nil {
		return nil, err
	}
	pods, err := tr.api.CoreV1().Pods(tr.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	loopback := map[string]string{}
	for _, p := range pods.Items {
		loopback[p.Name] = p.Annotations[nodeagent.LoopbackAnnotation]
	}
	var out []string
	for _, sl := range slices.Items {
		port := int32(-1)
		for _, p := range sl.Ports {
			if p.Port != nil && p.Name != nil && *p.Name == "http" {
				port = *p.Port
			}
		}
		for _, ep := range sl.Endpoints {
			if port < 0 || ep.Conditions.Ready != nil && !*ep.Conditions.Ready || ep.TargetRef == nil {
				continue
			}
			lo := loopback[ep.TargetRef.Name]
			if lo == "" {
				return nil, fmt.Errorf("pod %s has no loopback address", ep.TargetRef.Name)
			}
			out = append(out, net.JoinHostPort(lo, strconv.Itoa(int(port))))
		}
	}
	return out, nil
}

func (tr *traffic) stop() {
	tr.cancel()
	<-tr.done
}

// checkNoFailures fails the test if any request failed so far.
func (tr *traffic) checkNoFailures(t testing.TB) {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.failures) > 0 {
		t.Fatalf("%d of %d requests failed, e.g.:\n%s", len(tr.failures), len(tr.failures)+len(tr.samples),
			strings.Join(tr.failures[:min(10, len(tr.failures))], "\n"))
	}
}

// expectOnly waits until from+settle plus a short observation, then checks
// that every response since from+settle came from version, and that there
// were some.
func (tr *traffic) expectOnly(t testing.TB, from time.Time, settle time.Duration, version string) {
	t.Helper()
	begin := from.Add(settle)
	time.Sleep(time.Until(begin.Add(time.Second)))
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for _, s := range tr.samples {
		if s.at.Before(begin) {
			continue
		}
		n++
		if s.version != version {
			t.Fatalf("response from %q at %s, %s after the switch; want only %q after %s",
				s.version, s.at.Format("15:04:05.000"), s.at.Sub(from).Round(time.Millisecond), version, settle)
		}
	}
	if n == 0 {
		t.Fatalf("no response since %s", begin.Format("15:04:05.000"))
	}
}

// counts returns how many requests succeeded and failed.
func (tr *traffic) counts() (ok, failed int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.samples), len(tr.failures)
}
