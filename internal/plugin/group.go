package plugin

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/bluegreen"
)

// A release group has no object of its own: the plugin lists the
// namespace's SiteDeployments that name it and reads them as each member's
// planner does (bluegreen.ViewGroup).

// groupMembers lists the SiteDeployments of the current namespace in group
// name, sorted by name.
func (e *env) groupMembers(ctx context.Context, name string) (client.Client, []*v1.SiteDeployment, error) {
	c, ns, err := e.client()
	if err != nil {
		return nil, nil, err
	}
	var list v1.SiteDeploymentList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, nil, fmt.Errorf("cannot list sitedeployments: %w", err)
	}
	var out []*v1.SiteDeployment
	for i := range list.Items {
		if list.Items[i].Spec.Strategy.Group == name {
			out = append(out, &list.Items[i])
		}
	}
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("no sitedeployment in namespace %s names release group %s (spec.strategy.group)", ns, name)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return c, out, nil
}

// GroupPromoteTarget is the member that carries promote-group and the
// revision set it names: every member in flight, approved at once.
func GroupPromoteTarget(group string, members []*v1.SiteDeployment) (*v1.SiteDeployment, string, error) {
	v := bluegreen.ViewGroup(members)
	if v.RevisionSet == "" {
		return nil, "", fmt.Errorf("release group %s has no release in flight (phase %s): nothing to approve", group, v.Phase)
	}
	if v.Phase == v1.GroupRollingBack {
		return nil, "", fmt.Errorf("release group %s is rolling back (a member failed): nothing to approve; `kubectl understudy get group %s` shows which", group, group)
	}
	for _, m := range members {
		for _, s := range v.Members {
			if s.Name == m.Name && bluegreen.InFlight(s.State) {
				return m, v.RevisionSet, nil
			}
		}
	}
	return nil, "", fmt.Errorf("release group %s has no member in flight", group)
}

// promoteGroup writes promote-group, naming the group's revision set, on
// one member.
func (e *env) promoteGroup(cmd *cobra.Command, group string) error {
	c, members, err := e.groupMembers(cmd.Context(), group)
	if err != nil {
		return err
	}
	m, set, err := GroupPromoteTarget(group, members)
	if err != nil {
		return err
	}
	if err := annotate(cmd.Context(), c, m, v1.AnnotationPromoteGroup, set); err != nil {
		return err
	}
	fmt.Fprintf(e.streams.Out, "release group %s: promoting %s (%s on sitedeployment %s); each member switches once every one is ready\n",
		group, set, v1.AnnotationPromoteGroup, m.Name)
	return nil
}

// WriteGroupTree renders a release group: its phase and revision set, then
// each member with its revision, state, phase and what it waits for.
func WriteGroupTree(w io.Writer, ns, group string, members []*v1.SiteDeployment) {
	v := bluegreen.ViewGroup(members)
	fmt.Fprintf(w, "Group %s/%s  %s  revision set %s\n", ns, group, v.Phase, or(v.RevisionSet, "-"))
	for i, s := range v.Members {
		branch, stem := "├──", "│  "
		if i == len(v.Members)-1 {
			branch, stem = "└──", "   "
		}
		st := &members[i].Status
		fmt.Fprintf(w, "%s %s  %s  revision %s  %s  active %s/%s\n", branch, s.Name, s.State, or(s.Revision, "-"),
			or(string(st.Phase), "-"), or(string(st.ActiveColor), "-"), or(st.ActiveRevision, "-"))
		if msg := or(s.Message, st.Message); msg != "" && s.State != v1.MemberUnchanged {
			fmt.Fprintf(w, "%s %s\n", stem, msg)
		}
	}
}
