// Package registry resolves image tags to the content digests a registry
// serves for them, with the pull secrets the pods would use, so a release
// starts its candidate on image@digest from its first pod: the pods that
// are checked are the pods that take traffic, and a tag pushed again
// meanwhile changes nothing. It is I/O (HTTP to registries) and is used by
// the controller, never by the planners.
package registry
