package plugin

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// followSite calls show with the site as it is and again on each change
// of it, until show reports done, ctx ends or the site is deleted. It
// watches (the API server pushes each change) rather than polling; when
// the server ends a watch it reads the site again and watches on.
func (e *env) followSite(ctx context.Context, name string, show func(client.Client, *v1.SiteDeployment) (done bool, err error)) error {
	for {
		c, site, err := e.getSite(ctx, name)
		if err != nil {
			return err
		}
		if done, err := show(c, site); err != nil || done {
			return err
		}
		w, err := c.(client.WithWatch).Watch(ctx, &v1.SiteDeploymentList{}, client.InNamespace(site.Namespace),
			client.MatchingFields{"metadata.name": name}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: site.ResourceVersion}})
		if err != nil {
			return fmt.Errorf("cannot watch sitedeployment %s: %w", name, err)
		}
		done, err := followEvents(ctx, w, c, name, show)
		w.Stop()
		if err != nil || done {
			return err
		}
	}
}

// followEvents shows each modification until show is done, the site is
// deleted, ctx ends (ctx's error) or the watch ends (false, nil).
func followEvents(ctx context.Context, w watch.Interface, c client.Client, name string, show func(client.Client, *v1.SiteDeployment) (bool, error)) (bool, error) {
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, nil
			}
			switch ev.Type {
			case watch.Deleted:
				return false, fmt.Errorf("sitedeployment %s was deleted", name)
			case watch.Error:
				return false, nil // e.g. the resource version is too old: read again
			}
			site, ok := ev.Object.(*v1.SiteDeployment)
			if !ok {
				continue
			}
			if done, err := show(c, site); err != nil || done {
				return done, err
			}
		}
	}
}
