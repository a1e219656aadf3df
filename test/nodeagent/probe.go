package nodeagent

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probe runs the container's startup, readiness and liveness probes against
// the pod's loopback address until ctx ends: the startup probe gates the
// other two, readiness sets the container's ready flag, and a failed liveness
// probe kills the process group (the restart policy then applies).
func (c *containerRunner) probe(ctx context.Context, pid int) {
	if sp := c.spec.StartupProbe; sp != nil {
		if !c.runProbe(ctx, pid, sp, func(ok bool) bool { return ok }) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			return
		}
		c.set(func(s *corev1.ContainerStatus) { s.Started = boolPtr(true) })
		if c.spec.ReadinessProbe == nil {
			c.setReady(true)
		}
	}
	if lp := c.spec.LivenessProbe; lp != nil {
		go func() {
			if !c.runProbe(ctx, pid, lp, nil) && ctx.Err() == nil {
				c.r.a.opts.Log.Info("liveness probe failed: killing container", "pod", c.r.key, "container", c.spec.Name)
				_ = syscall.Kill(-pid, syscall.SIGKILL)
			}
		}()
	}
	if rp := c.spec.ReadinessProbe; rp != nil {
		c.runProbe(ctx, pid, rp, func(ok bool) bool { c.setReady(ok); return false })
	}
}

// runProbe probes every period. onResult receives each verdict after the
// thresholds are applied and returns true to stop with success. runProbe
// returns false when the failure threshold is hit with no onResult (liveness
// and startup semantics), or when ctx ends.
func (c *containerRunner) runProbe(ctx context.Context, pid int, p *corev1.Probe, onResult func(bool) bool) bool {
	period := secondsOr(p.PeriodSeconds, 10)
	timeout := secondsOr(p.TimeoutSeconds, 1)
	success, failure := int(max(p.SuccessThreshold, 1)), int(max(p.FailureThreshold, 3))
	sleepCtx(ctx, time.Duration(p.InitialDelaySeconds)*time.Second)
	var okRun, failRun int
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		ok := c.check(pctx, pid, &p.ProbeHandler)
		cancel()
		if ctx.Err() != nil {
			return false
		}
		if ok {
			okRun, failRun = okRun+1, 0
		} else {
			okRun, failRun = 0, failRun+1
		}
		switch {
		case okRun >= success && onResult != nil:
			if onResult(true) {
				return true
			}
		case failRun >= failure:
			if onResult == nil {
				return false
			}
			if onResult(false) {
				return true
			}
		}
		sleepCtx(ctx, period)
	}
	return false
}

func secondsOr(s int32, def int) time.Duration {
	if s <= 0 {
		return time.Duration(def) * time.Second
	}
	return time.Duration(s) * time.Second
}

// check runs one probe. Network probes go to the pod's loopback address only,
// whatever host the probe names.
func (c *containerRunner) check(ctx context.Context, pid int, h *corev1.ProbeHandler) bool {
	switch {
	case h.HTTPGet != nil:
		port, err := c.port(h.HTTPGet.Port)
		if err != nil {
			return false
		}
		scheme := "http"
		if h.HTTPGet.Scheme == corev1.URISchemeHTTPS {
			scheme = "https"
		}
		url := fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(c.r.lo, strconv.Itoa(port)), h.HTTPGet.Path)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false
		}
		for _, hd := range h.HTTPGet.HTTPHeaders {
			req.Header.Add(hd.Name, hd.Value)
		}
		client := &http.Client{
			Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // probes do not verify, as the kubelet's
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode >= 200 && resp.StatusCode < 400
	case h.TCPSocket != nil:
		port, err := c.port(h.TCPSocket.Port)
		if err != nil {
			return false
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(c.r.lo, strconv.Itoa(port)))
		if err != nil {
			return false
		}
		conn.Close()
		return true
	case h.Exec != nil && len(h.Exec.Command) > 0:
		env, err := c.r.containerEnv(ctx, &c.spec)
		if err != nil {
			return false
		}
		args := append([]string{"--target", strconv.Itoa(pid), "--mount", "--uts", "--"}, h.Exec.Command...)
		cmd := exec.CommandContext(ctx, "nsenter", args...)
		cmd.Env = envList(env)
		cmd.Dir = c.dir
		return cmd.Run() == nil
	}
	return false
}

// port resolves a probe's port, by number or by the container port's name.
func (c *containerRunner) port(p intstr.IntOrString) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.spec.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("no container port named %q", p.StrVal)
}
