package nodeagent

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"HOST": "127.1.0.1", "PORT": "8080"}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	for in, want := range map[string]string{
		"$(HOST):$(PORT)": "127.1.0.1:8080",
		"$(MISSING)":      "$(MISSING)",
		"$$(HOST)":        "$(HOST)",
		"cost $5":         "cost $5",
		"open $(HOST":     "open $(HOST",
		"plain":           "plain",
	} {
		if got := expand(in, lookup); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResolveArgv(t *testing.T) {
	bin := t.TempDir()
	prog := filepath.Join(bin, "demo-site")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GREETING": "hi"}
	cases := []struct {
		name string
		c    corev1.Container
		want []string
		err  string
	}{
		{name: "local image runs its program with args",
			c:    corev1.Container{Image: "local/demo-site:v2", Args: []string{"--greet=$(GREETING)"}},
			want: []string{prog, "--greet=hi"}},
		{name: "command overrides the local program, found in the bin dir first",
			c:    corev1.Container{Image: "local/other", Command: []string{"demo-site"}},
			want: []string{prog}},
		{name: "other images need a command, looked up on PATH",
			c:    corev1.Container{Image: "busybox", Command: []string{"sh", "-c", "exit 1"}},
			want: []string{"/usr/bin/sh", "-c", "exit 1"}},
		{name: "other images without a command are not runnable",
			c:   corev1.Container{Name: "x", Image: "nginx"},
			err: "no local program"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveArgv(&tc.c, bin, env)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got[0] == "/bin/sh" { // usrmerge: either path is the same shell
				got[0] = "/usr/bin/sh"
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("argv = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRenderHostsResolvesClusterNamesToLoopback(t *testing.T) {
	hosts := renderHosts("web-1", "shop", "127.1.0.7", []serviceEntry{
		{namespace: "shop", name: "db", ip: "127.2.0.3"},
		{namespace: "other", name: "api", ip: "127.2.0.4"},
	})
	for _, want := range []string{
		"127.1.0.7\tweb-1\n",
		"127.2.0.3\tdb.shop.svc.cluster.local db.shop.svc db.shop db\n",
		"127.2.0.4\tapi.other.svc.cluster.local api.other.svc api.other\n",
	} {
		if !strings.Contains(hosts, want) {
			t.Errorf("hosts lacks %q:\n%s", want, hosts)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(hosts), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		ip := strings.Fields(line)[0]
		if !strings.HasPrefix(ip, "127.") && ip != "::1" {
			t.Errorf("non-loopback address in hosts: %q", line)
		}
	}
	if rc := resolvConf("shop"); !strings.HasPrefix(rc, "nameserver 127.0.0.1\n") {
		t.Errorf("resolv.conf must only name loopback: %q", rc)
	}
}

func TestIPAllocator(t *testing.T) {
	a := newIPAllocator(1)
	i, _ := a.allocate()
	j, _ := a.allocate()
	if a.loopback(i) != "127.1.0.1" || a.loopback(j) != "127.1.0.2" || fakePodIP(j) != "10.244.0.2" {
		t.Fatalf("got %s %s %s", a.loopback(i), a.loopback(j), fakePodIP(j))
	}
	if got := a.loopback(254); got != "127.1.1.1" {
		t.Fatalf("index 254 = %s, want 127.1.1.1", got)
	}
	a.release(i)
	k, _ := a.allocate()
	if k == i {
		t.Fatalf("a just-released address was handed out again at once")
	}
}

func TestMountpointsRemovesWhatItCreated(t *testing.T) {
	root := t.TempDir()
	m := newMountpoints()
	target := filepath.Join(root, "var", "run", "secrets")
	held1, err := m.claim(target, true)
	if err != nil {
		t.Fatal(err)
	}
	held2, err := m.claim(filepath.Join(root, "var", "run", "secrets", "token"), false)
	if err != nil {
		t.Fatal(err)
	}
	m.release(held1)
	if _, err := os.Stat(target); err != nil {
		t.Fatalf("released while another pod still uses it: %v", err)
	}
	m.release(held2)
	if _, err := os.Stat(filepath.Join(root, "var")); !os.IsNotExist(err) {
		t.Fatalf("created mount points left behind: %v", err)
	}
}
