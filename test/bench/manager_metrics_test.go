package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// hist is a Prometheus histogram of the manager's, summed over the series
// that matched: cumulative bucket counts by upper bound.
type hist struct {
	sum, count float64
	le         map[float64]float64
}

// histogram reads histogram name from the manager's metrics, summing the
// series whose labels contain label.
func (m *managerProcess) histogram(b *testing.B, name, label string) hist {
	b.Helper()
	h := hist{le: map[float64]float64{}}
	err := m.scan(func(line string) {
		if !strings.HasPrefix(line, name+"_") || !strings.Contains(line, label) {
			return
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		switch {
		case strings.HasPrefix(line, name+"_sum"):
			h.sum += v
		case strings.HasPrefix(line, name+"_count"):
			h.count += v
		case strings.HasPrefix(line, name+"_bucket"):
			i := strings.Index(line, `le="`)
			if i < 0 {
				return
			}
			rest := line[i+4:]
			le, err := strconv.ParseFloat(rest[:strings.IndexByte(rest, '"')], 64)
			if err == nil {
				h.le[le] += v
			}
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// since is what was observed between before and h.
func (h hist) since(before hist) hist {
	d := hist{sum: h.sum - before.sum, count: h.count - before.count, le: map[float64]float64{}}
	for le, v := range h.le {
		d.le[le] = v - before.le[le]
	}
	return d
}

func (h hist) mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	return time.Duration(h.sum / h.count * float64(time.Second))
}

// above is the share of observations above bound (a bucket bound).
func (h hist) above(bound float64) float64 {
	if h.count == 0 {
		return 0
	}
	return 1 - h.le[bound]/h.count
}

// managerSnapshot is what the benchmark reads of the manager's metrics
// before and after a phase, to print where a switch waits.
type managerSnapshot struct {
	queueWait, work, throttle hist
}

func (m *managerProcess) snapshot(b *testing.B) managerSnapshot {
	return managerSnapshot{
		queueWait: m.histogram(b, "workqueue_queue_duration_seconds", `controller="sitedeployment"`),
		work:      m.histogram(b, "workqueue_work_duration_seconds", `controller="sitedeployment"`),
		throttle:  m.histogram(b, "rest_client_rate_limiter_duration_seconds", `verb=`),
	}
}

// printWaits prints where the manager's time went between two snapshots:
// in its work queue, in reconciles, waiting for its client's rate limit.
func printWaits(before, after managerSnapshot, maxDepth int64) {
	q, w, t := after.queueWait.since(before.queueWait), after.work.since(before.work), after.throttle.since(before.throttle)
	fmt.Printf("  manager work queue: %d items, wait mean %v (%.1f%% over 100 ms, %.1f%% over 1 s), max depth %d\n",
		int64(q.count), q.mean().Round(time.Microsecond), 100*q.above(0.1), 100*q.above(1), maxDepth)
	fmt.Printf("  manager reconciles: mean %v (%.1f%% over 100 ms)\n", w.mean().Round(time.Microsecond), 100*w.above(0.1))
	fmt.Printf("  manager client rate limit: %d requests, %.2f s waited in all (mean %v)\n",
		int64(t.count), t.sum, t.mean().Round(time.Microsecond))
}

// depthSampler records the largest depth of the manager's SiteDeployment
// work queue, sampled every depthEvery until stopped. A scrape gathers
// every series of the manager, thousands at thousands of sites: sampled
// every 500 ms, the benchmark's own scrapes were over half of all the
// manager allocated during an N = 3000 run, and most of its CPU in the
// release. A Prometheus scrapes every 15-60 s.
type depthSampler struct {
	stop func() int64
}

const depthEvery = 5 * time.Second

func sampleDepth(m *managerProcess) depthSampler {
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu  sync.Mutex
		top int64
		wg  sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(depthEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			d, err := m.metricSum("workqueue_depth{", `controller="sitedeployment"`)
			if err != nil {
				continue
			}
			mu.Lock()
			top = max(top, d)
			mu.Unlock()
		}
	}()
	return depthSampler{stop: func() int64 {
		cancel()
		wg.Wait()
		return top
	}}
}

// profile saves the manager's profile kind (heap, or profile?seconds=S for
// CPU) into BENCH_PROFILE_DIR as <tag>.<kind>.pprof; nothing without it.
func (m *managerProcess) profile(b *testing.B, tag, kind string) {
	dir := os.Getenv("BENCH_PROFILE_DIR")
	if dir == "" || m.pprof == "" {
		return
	}
	resp, err := http.Get(m.pprof + "/debug/pprof/" + kind)
	if err != nil {
		b.Logf("profile %s: %v", kind, err)
		return
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Logf("profile %s: %v", kind, err)
		return
	}
	name := filepath.Join(dir, tag+"."+strings.SplitN(kind, "?", 2)[0]+".pprof")
	if err := os.WriteFile(name, raw, 0o644); err != nil {
		b.Logf("profile %s: %v", kind, err)
		return
	}
	fmt.Printf("  profile: %s\n", name)
}

// profileAsync takes a CPU profile of the next seconds in the background
// (see profile); the returned func waits for it.
func (m *managerProcess) profileAsync(b *testing.B, tag string, seconds int) (wait func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.profile(b, tag, fmt.Sprintf("profile?seconds=%d", seconds))
	}()
	return wg.Wait
}

// profileAtPeak keeps a heap profile of the manager taken when its peak
// RSS last grew (by 2 MB or more), as <tag>.heap.pprof: what it held when
// memory was highest. The returned func stops it.
func (m *managerProcess) profileAtPeak(b *testing.B, tag string) (stop func()) {
	if os.Getenv("BENCH_PROFILE_DIR") == "" || m.pprof == "" {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		last, _ := m.vmHWM()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if now, err := m.vmHWM(); err == nil && now >= last+2048 {
				last = now
				m.profile(b, tag, "heap")
			}
		}
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}

// profileSeconds is how long the CPU profile of a release runs:
// BENCH_PROFILE_SECONDS, default 30.
func profileSeconds(b *testing.B) int {
	return intsFromEnv(b, "BENCH_PROFILE_SECONDS", []int{30})[0]
}
