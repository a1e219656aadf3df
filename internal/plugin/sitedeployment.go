package plugin

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

func (e *env) getSite(ctx context.Context, name string) (client.Client, *v1.SiteDeployment, error) {
	site := &v1.SiteDeployment{}
	c, err := e.get(ctx, "sitedeployment", name, site)
	return c, site, err
}

// get reads the object kind/name of the current namespace into obj.
func (e *env) get(ctx context.Context, kind, name string, obj client.Object) (client.Client, error) {
	c, ns, err := e.client()
	if err != nil {
		return nil, err
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%s %s not found in namespace %s", kind, name, ns)
		}
		return nil, fmt.Errorf("cannot read %s %s: %w", kind, name, err)
	}
	return c, nil
}

// siteAction reads the site, asks decide for the revision and writes it
// under key.
func (e *env) siteAction(cmd *cobra.Command, name, key, verb string, decide func(*v1.SiteDeployment) (string, error)) error {
	c, site, err := e.getSite(cmd.Context(), name)
	if err != nil {
		return err
	}
	rev, err := decide(site)
	if err != nil {
		return err
	}
	if err := annotate(cmd.Context(), c, site, key, rev); err != nil {
		return err
	}
	fmt.Fprintf(e.streams.Out, "sitedeployment %s: %s revision %s (%s=%s)\n", name, verb, rev, key, rev)
	return nil
}

func (e *env) promoteCommand() *cobra.Command {
	var revision, group string
	cmd := &cobra.Command{
		Use:   "promote NAME | promote --group GROUP",
		Short: "Approve the candidate revision (the promote annotation names it), or every candidate of a release group",
		Args: func(cmd *cobra.Command, args []string) error {
			if group != "" {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if group != "" {
				return e.promoteGroup(cmd, group)
			}
			note := ""
			err := e.siteAction(cmd, args[0], v1.AnnotationPromote, "promoting", func(s *v1.SiteDeployment) (string, error) {
				rev, err := PromoteTarget(s.Name, &s.Status, revision)
				note = PromoteNote(s.Name, &s.Status, rev)
				return rev, err
			})
			if err == nil && note != "" {
				fmt.Fprintf(e.streams.Out, "sitedeployment %s: %s\n", args[0], note)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&revision, "revision", "", "refuse unless this is the candidate (or, to approve it in advance, the revision waiting for its upstreams)")
	cmd.Flags().StringVar(&group, "group", "", "approve every candidate of this release group at once (the promote-group annotation names their revision set)")
	cmd.MarkFlagsMutuallyExclusive("revision", "group")
	return cmd
}

func (e *env) skipGateCommand() *cobra.Command {
	var revision string
	cmd := &cobra.Command{
		Use:   "skip-gate NAME",
		Short: "Release the revision waiting for its upstreams without them (a hotfix; recorded in history)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.siteAction(cmd, args[0], v1.AnnotationSkipPromotionGate, "skipping the promotion gate for", func(s *v1.SiteDeployment) (string, error) {
				return SkipGateTarget(s.Name, &s.Status, revision)
			})
		},
	}
	cmd.Flags().StringVar(&revision, "revision", "", "refuse unless this is the revision waiting")
	return cmd
}

func (e *env) abortCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "abort NAME",
		Short: "Reject the candidate revision; traffic stays where it is",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.siteAction(cmd, args[0], v1.AnnotationAbort, "aborting", func(s *v1.SiteDeployment) (string, error) {
				return AbortTarget(s.Name, &s.Status)
			})
		},
	}
}

func (e *env) rollbackCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rollback NAME",
		Short: "Abort the active revision: traffic goes back to the previous one",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.siteAction(cmd, args[0], v1.AnnotationAbort, "rolling back", func(s *v1.SiteDeployment) (string, error) {
				return RollbackTarget(s.Name, &s.Status)
			})
		},
	}
}

func (e *env) getCommand() *cobra.Command {
	var watch bool
	cmd := &cobra.Command{
		Use:   "get sdep|group NAME",
		Short: "Show a SiteDeployment as a tree of colors, revisions, Services and checks, or a release group as a tree of its members",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == "group" {
				_, members, err := e.groupMembers(cmd.Context(), args[1])
				if err != nil {
					return err
				}
				WriteGroupTree(e.streams.Out, members[0].Namespace, args[1], members)
				return nil
			}
			if k := args[0]; k != "sdep" && k != "sitedeployment" && k != "sitedeployments" {
				return fmt.Errorf("unknown kind %q: only sdep (sitedeployment) or group", k)
			}
			return e.followSite(cmd.Context(), args[1], func(c client.Client, site *v1.SiteDeployment) (bool, error) {
				o, err := observe(cmd.Context(), c, site)
				if err != nil {
					return false, err
				}
				WriteTree(e.streams.Out, o, time.Now())
				if watch {
					fmt.Fprintln(e.streams.Out)
				}
				return !watch, nil
			})
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "print the tree again on each change of the SiteDeployment")
	return cmd
}

func (e *env) historyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "history NAME",
		Short: "List the revisions: images, when promoted, outcome, database",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, site, err := e.getSite(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return WriteHistory(e.streams.Out, site, time.Now())
		},
	}
}

func (e *env) statusCommand() *cobra.Command {
	var watch bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Print the release's state; exit 0 when Healthy, 1 on Degraded, Aborted or timeout",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if watch && timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			last := ""
			var verdict Verdict
			var why string
			err := e.followSite(ctx, args[0], func(_ client.Client, site *v1.SiteDeployment) (bool, error) {
				verdict, why = Judge(site)
				if why != last {
					fmt.Fprintf(e.streams.Out, "%s\n", why)
					last = why
				}
				return verdict != Waiting || !watch, nil
			})
			switch {
			case err != nil && verdict == Waiting && watch:
				return fmt.Errorf("sitedeployment %s is not Healthy after %s: %s", args[0], timeout, why)
			case err != nil:
				return err
			case verdict == Failed:
				return fmt.Errorf("sitedeployment %s failed: %s", args[0], why)
			case verdict == Waiting:
				return fmt.Errorf("sitedeployment %s is not Healthy yet: %s", args[0], why)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "wait until Healthy, Degraded or Aborted")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "give up waiting after this long (with -w)")
	return cmd
}
