package demo

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/bluegreen"
)

// candidateUp is the line to print when site's candidate is up behind its
// preview Service: once per candidate revision, after all its replicas were
// available (status.previewReadyAt) and while the node agent serves the
// preview Service (address gives where). It returns "" when there is
// nothing new since the revision announced, and the revision it announces.
func candidateUp(site *v1.SiteDeployment, address func(ns, name string) string, announced string) (line, revision string) {
	rev := site.Status.PreviewRevision
	if rev == "" || site.Status.PreviewReadyAt == nil || rev == announced {
		return "", announced
	}
	svc := bluegreen.PreviewServiceName(site)
	addr := address(site.Namespace, svc)
	if addr == "" {
		return "", announced
	}
	return fmt.Sprintf("==> %s/%s: candidate %s is up behind %s: curl -s http://%s/\n",
		site.Namespace, site.Name, rev, svc, net.JoinHostPort(addr, "80")), rev
}

// announceCandidates prints the preview URL of the site ns/name each time a
// new candidate of it is up, until ctx ends.
func announceCandidates(ctx context.Context, w io.Writer, c client.Client, ns, name string, address func(ns, name string) string) {
	announced := ""
	for {
		site := &v1.SiteDeployment{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, site); err == nil {
			var line string
			if line, announced = candidateUp(site, address, announced); line != "" {
				fmt.Fprint(w, line)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}
