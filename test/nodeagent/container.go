package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const maxBackoff = 20 * time.Second

// containerRunner runs one container as a local process, restarting it as
// the pod's restart policy says, and keeps its ContainerStatus.
type containerRunner struct {
	r    *podRunner
	spec corev1.Container
	init bool
	dir  string

	mu     sync.Mutex
	status corev1.ContainerStatus
	done   bool
}

func newContainerRunner(r *podRunner, c corev1.Container, init bool) *containerRunner {
	return &containerRunner{r: r, spec: c, init: init, status: corev1.ContainerStatus{
		Name: c.Name, Image: c.Image, ImageID: "local://" + c.Image,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}},
	}}
}

// prepare creates the container's dir and its termination-message file.
func (c *containerRunner) prepare() error {
	c.dir = filepath.Join(c.r.dir, "containers", c.spec.Name)
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return fmt.Errorf("cannot create container dir: %w", err)
	}
	return nil
}

func (c *containerRunner) snapshot() (corev1.ContainerStatus, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return *c.status.DeepCopy(), c.done
}

func (c *containerRunner) succeeded() bool {
	s, done := c.snapshot()
	return done && s.State.Terminated != nil && s.State.Terminated.ExitCode == 0
}

func (c *containerRunner) set(f func(s *corev1.ContainerStatus)) {
	c.mu.Lock()
	f(&c.status)
	c.mu.Unlock()
	notify(c.r.changed)
}

func (c *containerRunner) setReady(ready bool) {
	c.mu.Lock()
	changed := c.status.Ready != ready && c.status.State.Running != nil
	if changed {
		c.status.Ready = ready
	}
	c.mu.Unlock()
	if changed {
		notify(c.r.changed)
	}
}

// loop runs the container until it is done for good or ctx ends.
func (c *containerRunner) loop(ctx context.Context) {
	backoff := time.Second
	for ctx.Err() == nil {
		cmd, err := c.start(ctx)
		var cfgErr *configError
		var imgErr *imageError
		if waiting := ""; errors.As(err, &cfgErr) || errors.As(err, &imgErr) {
			waiting = "CreateContainerConfigError"
			if imgErr != nil {
				waiting = "ErrImagePull"
			}
			c.set(func(s *corev1.ContainerStatus) {
				s.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: waiting, Message: err.Error()}}
			})
			sleepCtx(ctx, 2*time.Second)
			continue
		}
		started := time.Now()
		var term *corev1.ContainerStateTerminated
		if err != nil {
			term = &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError", Message: err.Error(),
				StartedAt: metav1.Now(), FinishedAt: metav1.Now()}
		} else {
			term = c.watch(ctx, cmd)
		}
		c.set(func(s *corev1.ContainerStatus) {
			s.State = corev1.ContainerState{Terminated: term}
			s.Ready = false
		})
		if ctx.Err() != nil || !c.shouldRestart(term.ExitCode) {
			c.mu.Lock()
			c.done = true
			c.mu.Unlock()
			notify(c.r.changed)
			return
		}
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		c.set(func(s *corev1.ContainerStatus) {
			s.LastTerminationState = corev1.ContainerState{Terminated: term}
			s.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off %s restarting container %s", backoff, c.spec.Name)}}
			s.RestartCount++
		})
		sleepCtx(ctx, backoff)
		backoff = min(2*backoff, maxBackoff)
	}
}

func (c *containerRunner) shouldRestart(exitCode int32) bool {
	switch c.r.latest().Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	default: // Always: init containers still run to completion once
		return !c.init || exitCode != 0
	}
}

// watch marks the running container, probes it, and waits for it to exit
// (stopping it with the pod's grace period when ctx ends).
func (c *containerRunner) watch(ctx context.Context, cmd *exec.Cmd) *corev1.ContainerStateTerminated {
	startedAt := metav1.Now()
	c.set(func(s *corev1.ContainerStatus) {
		s.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: startedAt}}
		s.ContainerID = fmt.Sprintf("local://%d", cmd.Process.Pid)
		s.Started = boolPtr(c.spec.StartupProbe == nil)
		s.Ready = c.spec.ReadinessProbe == nil && c.spec.StartupProbe == nil && !c.init
	})
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	probeCtx, stopProbes := context.WithCancel(ctx)
	if !c.init {
		go c.probe(probeCtx, cmd.Process.Pid)
	}
	select {
	case <-exited:
	case <-ctx.Done():
		pgid := cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(c.r.stopGrace()):
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}
	stopProbes()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // children left in the group
	code := int32(cmd.ProcessState.ExitCode())
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int32(ws.Signal())
	}
	reason := "Completed"
	if code != 0 {
		reason = "Error"
	}
	return &corev1.ContainerStateTerminated{
		ExitCode: code, Reason: reason, Message: c.terminationMessage(code),
		StartedAt: startedAt, FinishedAt: metav1.Now(), ContainerID: fmt.Sprintf("local://%d", cmd.Process.Pid),
	}
}

// start launches the container's program in a new mount and UTS namespace
// with the pod's volumes, /etc/hosts, resolv.conf and termination-message
// file bind-mounted where the container expects them.
func (c *containerRunner) start(ctx context.Context) (*exec.Cmd, error) {
	env, err := c.r.containerEnv(ctx, &c.spec)
	if err != nil {
		return nil, err
	}
	argv, err := resolveArgv(&c.spec, c.r.a.opts.ImageBinDir, env)
	if err != nil {
		return nil, err
	}
	if err := c.pull(argv); err != nil {
		return nil, err
	}
	termPath := filepath.Join(c.dir, "termination-log")
	if err := os.WriteFile(termPath, nil, 0o666); err != nil {
		return nil, err
	}
	mounts, err := c.mounts(termPath)
	if err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(filepath.Join(c.dir, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	script, err := sandboxScript(mounts, c.r.latest().Name, c.spec.WorkingDir)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("unshare", append([]string{"--mount", "--uts", "--propagation", "private", "--",
		"/bin/sh", "-c", script, "sh"}, argv...)...)
	cmd.Env = envList(env)
	cmd.Dir = c.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start container %s: %w", c.spec.Name, err)
	}
	return cmd, nil
}

// pull runs a local image's own program from the node's image store, by
// digest, and reports that digest as the container's imageID.
func (c *containerRunner) pull(argv []string) error {
	name, ok := strings.CutPrefix(c.spec.Image, LocalImagePrefix)
	if !ok {
		return nil
	}
	name, _, _ = strings.Cut(name, "@")
	name, _, _ = strings.Cut(name, ":")
	if argv[0] != filepath.Join(c.r.a.opts.ImageBinDir, name) {
		return nil // the container runs another program than the image's
	}
	path, imageID, err := c.r.a.images.pull(c.spec.Image)
	if err != nil {
		return err
	}
	argv[0] = path
	c.set(func(s *corev1.ContainerStatus) { s.ImageID = imageID })
	return nil
}

// mount is a bind mount inside the pod's mount namespace.
type mount struct {
	src, dst string
	readOnly bool
}

// mounts lists the container's bind mounts, parents before children, and
// makes sure each target exists on the host (created ones are released with
// the pod).
func (c *containerRunner) mounts(termPath string) ([]mount, error) {
	tmPath := c.spec.TerminationMessagePath
	if tmPath == "" {
		tmPath = corev1.TerminationMessagePathDefault
	}
	ms := []mount{
		{src: filepath.Join(c.r.dir, "hosts"), dst: "/etc/hosts"},
		{src: termPath, dst: tmPath},
	}
	if _, err := os.Stat("/etc/resolv.conf"); err == nil {
		ms = append(ms, mount{src: filepath.Join(c.r.dir, "resolv.conf"), dst: "/etc/resolv.conf"})
	}
	for _, vm := range c.spec.VolumeMounts {
		src, ok := c.r.volumes[vm.Name]
		if !ok {
			return nil, &configError{fmt.Errorf("volume %q is not defined", vm.Name)}
		}
		if vm.SubPath != "" {
			src = filepath.Join(src, vm.SubPath)
			if _, err := os.Stat(src); os.IsNotExist(err) {
				if err := os.MkdirAll(src, 0o777); err != nil {
					return nil, err
				}
			}
		}
		ms = append(ms, mount{src: src, dst: vm.MountPath, readOnly: vm.ReadOnly})
	}
	sort.SliceStable(ms, func(i, j int) bool { return depth(ms[i].dst) < depth(ms[j].dst) })
	for _, m := range ms {
		fi, err := os.Stat(m.src)
		if err != nil {
			return nil, fmt.Errorf("cannot mount %s: %w", m.src, err)
		}
		created, err := c.r.a.mounts.claim(m.dst, fi.IsDir())
		if err != nil {
			return nil, err
		}
		c.r.claimed = append(c.r.claimed, created...)
	}
	return ms, nil
}

func depth(p string) int { return strings.Count(filepath.Clean(p), "/") }

// sandboxScript is the shell run inside the new namespaces before exec'ing
// the container's program ("$@"). A source that an earlier mount covers (an
// emptyDir at /tmp while the pod's files live under /tmp) is opened before any
// mount and bound through its descriptor, so no host path the pod needs is
// hidden by where the pod mounts its volumes.
func sandboxScript(ms []mount, hostname, workDir string) (string, error) {
	var b strings.Builder
	b.WriteString("set -e\n")
	fmt.Fprintf(&b, "hostname %s\n", shellQuote(hostname))
	fds := map[int]int{} // mount index -> descriptor (3..9: what sh can name)
	for i, m := range ms {
		if !coveredBefore(ms[:i], m.src) {
			continue
		}
		fd := 3 + len(fds)
		if fd > 9 {
			return "", &configError{fmt.Errorf("too many volume sources under the pod's own mount points (at most 7)")}
		}
		fds[i] = fd
		fmt.Fprintf(&b, "exec %d<%s\n", fd, shellQuote(m.src))
	}
	for i, m := range ms {
		if fd, ok := fds[i]; ok {
			fmt.Fprintf(&b, "mount --no-canonicalize --bind /proc/self/fd/%d %s\n", fd, shellQuote(m.dst))
			fmt.Fprintf(&b, "exec %d<&-\n", fd)
		} else {
			fmt.Fprintf(&b, "mount --bind %s %s\n", shellQuote(m.src), shellQuote(m.dst))
		}
		if m.readOnly {
			fmt.Fprintf(&b, "mount -o remount,bind,ro %s\n", shellQuote(m.dst))
		}
	}
	if workDir != "" {
		fmt.Fprintf(&b, "cd %s\n", shellQuote(workDir))
	}
	b.WriteString("exec \"$@\"\n")
	return b.String(), nil
}

// coveredBefore reports whether path lies at or under the target of one of ms.
func coveredBefore(ms []mount, path string) bool {
	for _, m := range ms {
		dst := filepath.Clean(m.dst)
		if path == dst || strings.HasPrefix(path, strings.TrimSuffix(dst, "/")+"/") {
			return true
		}
	}
	return false
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// terminationMessage reads what the container wrote to its termination-message
// file, or the tail of its log when the policy asks for it on failure.
func (c *containerRunner) terminationMessage(code int32) string {
	data, _ := os.ReadFile(filepath.Join(c.dir, "termination-log"))
	if len(data) > 4096 {
		data = data[:4096]
	}
	if len(data) == 0 && code != 0 && c.spec.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError {
		data, _ = os.ReadFile(filepath.Join(c.dir, "log"))
		if len(data) > 2048 {
			data = data[len(data)-2048:]
		}
	}
	return string(data)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func boolPtr(b bool) *bool { return &b }

// configError is a container that cannot start yet because of its
// configuration (a missing Secret key, say); it is retried without counting
// as a restart.
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }
