// Placement: the clusters a Kubernetes object goes to when it names them by label instead of by
// name (`meridian.io/cluster-selector: "tier=edge,region in (cn-hangzhou,cn-shanghai)"`), and the
// per-cluster values (`${cluster.name}`, `${cluster.region}`, `${cluster.labels.<key>}`) written
// into each cluster's copy. Validation reports what cannot be placed; the desired state makes the
// copies. Both read the Clusters of the same ManifestSet, so they agree on what a selector selects.
#pragma once

#include "base/json.h"
#include "base/label_selector.h"
#include "manifest/manifest.h"

#include <map>
#include <string>
#include <vector>

namespace meridian {

//! A Cluster of the repository as selectors and `${cluster.*}` variables see it.
struct ClusterFacts {
  std::string name;
  std::string region;                        //!< spec.region
  std::map<std::string, std::string> labels; //!< metadata.labels (string values only)
};

//! The Clusters of `set` by name; of two with one name, the first (validation reports the second).
std::map<std::string, ClusterFacts> cluster_facts(const ManifestSet& set);

//! The clusters `selector` selects, in name order: the order of the copies.
std::vector<const ClusterFacts*> select_clusters(const LabelSelector& selector, const std::map<std::string, ClusterFacts>& clusters);

//! The warning for a selector that selects none of `clusters`, naming a few of them and their labels.
std::string selects_no_cluster(std::string_view selector, const std::map<std::string, ClusterFacts>& clusters);

//! `manifest`'s selector (it has the annotation), or the reason it is not one. An empty selector,
//! which Kubernetes reads as "everything", is refused: one would place the object on every cluster.
LabelSelectorParse parse_cluster_selector(const Manifest& manifest);

//! A `${...}` that could not be substituted, and where (a JSON pointer into the document).
struct SubstitutionError {
  std::string pointer;
  std::string message;
};

//! Replaces every variable in the string values of `document` (a copy made for `cluster`; object
//! keys are left alone) and returns what it could not replace. `$${` writes a literal `${`. The
//! identity fields (apiVersion, kind, metadata.name, metadata.namespace) are never substituted:
//! the copies are one object per cluster, told apart by their cluster; a variable there is an error.
std::vector<SubstitutionError> substitute_cluster_variables(Json& document, JsonAllocator& allocator, const ClusterFacts& cluster);

//! What substitute_cluster_variables would report for `document`, without changing it.
std::vector<SubstitutionError> check_cluster_variables(const Json& document, const ClusterFacts& cluster);

} // namespace meridian
