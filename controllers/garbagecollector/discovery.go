package garbagecollector

import (
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

// ignoredResources are never watched: events are numerous, short-lived and
// never owners (as upstream's garbage collector).
var ignoredResources = map[schema.GroupResource]struct{}{
	{Group: "", Resource: "events"}:              {},
	{Group: "events.k8s.io", Resource: "events"}: {},
}

// DeletableResources returns the preferred version of every resource the server
// offers with the list, watch and delete verbs, minus ignored ones, sorted. If
// some API groups failed discovery it returns the others with the error, so the
// caller may go on with a partial set.
func DeletableResources(d discovery.DiscoveryInterface) ([]schema.GroupVersionResource, error) {
	lists, discoveryErr := discovery.ServerPreferredResources(d)
	if discoveryErr != nil && !discovery.IsGroupDiscoveryFailedError(discoveryErr) {
		return nil, fmt.Errorf("discovering deletable resources: %w", discoveryErr)
	}
	deletable := discovery.FilteredBy(discovery.SupportsAllVerbs{Verbs: []string{"delete", "list", "watch"}}, lists)
	set, err := discovery.GroupVersionResources(deletable)
	if err != nil {
		return nil, fmt.Errorf("parsing discovered resources: %w", err)
	}
	out := make([]schema.GroupVersionResource, 0, len(set))
	for gvr := range set {
		if _, ignored := ignoredResources[gvr.GroupResource()]; ignored {
			continue
		}
		out = append(out, gvr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	if discoveryErr != nil {
		return out, fmt.Errorf("discovering deletable resources (partial result): %w", discoveryErr)
	}
	return out, nil
}
