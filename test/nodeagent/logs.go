package nodeagent

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// serveLogs answers the API server's container-log requests (`kubectl logs`,
// with --follow and --tail) on a loopback TLS port, as the kubelet does; the
// port goes into the Node's daemonEndpoints. Nothing else of the kubelet API
// is served.
func (a *Agent) serveLogs(ctx context.Context) (int, error) {
	cert, err := selfSignedCert()
	if err != nil {
		return 0, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", a.containerLogs)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (a *Agent) containerLogs(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	dir, ok := a.podDirs[r.PathValue("ns")+"/"+r.PathValue("pod")]
	a.mu.Unlock()
	if !ok {
		http.Error(w, "pod not run by this node agent", http.StatusNotFound)
		return
	}
	f, err := os.Open(filepath.Join(dir, "containers", r.PathValue("container"), "log"))
	if err != nil {
		http.Error(w, "no log for this container", http.StatusNotFound)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/plain")
	if n, err := strconv.Atoi(r.URL.Query().Get("tailLines")); err == nil && n >= 0 {
		data, _ := io.ReadAll(f)
		lines := bytes.SplitAfter(data, []byte("\n"))
		if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
			lines = lines[:len(lines)-1]
		}
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		_, _ = w.Write(bytes.Join(lines, nil))
	} else {
		_, _ = io.Copy(w, f)
	}
	if r.URL.Query().Get("follow") != "true" {
		return
	}
	flusher, _ := w.(http.Flusher)
	for {
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
		if _, err := io.Copy(w, f); err != nil {
			return
		}
		if !a.containerLive(r.PathValue("ns")+"/"+r.PathValue("pod"), r.PathValue("container")) {
			_, _ = io.Copy(w, f)
			return
		}
	}
}

// containerLive reports whether a container may still write to its log.
func (a *Agent) containerLive(key, container string) bool {
	live := false
	a.forEachRunner(func(r *podRunner) {
		if r.key != key {
			return
		}
		for _, c := range append(append([]*containerRunner{}, r.inits...), r.ctrs...) {
			if _, done := c.snapshot(); c.spec.Name == container && !done {
				live = true
			}
		}
	})
	return live
}

func selfSignedCert() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "understudy-nodeagent"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
