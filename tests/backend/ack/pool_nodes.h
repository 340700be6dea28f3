// What an ACK node pool does to its cluster, on a real API server (the test kit): the fake ACK's
// pools become Node objects there, as ECS instances joining a cluster would. Each node carries
// the pool's labels and taints, `alibabacloud.com/nodepool-id`, `topology.kubernetes.io/region`
// (the region of the pool's vSwitch), the capacity of its instance type (GPU types: nvidia.com/gpu
// and the aliyun.accelerator/* labels ACK's GPU nodes report) and `kit.local/fake-node: "true"`,
// so that the kit's fake kubelet keeps it Ready and runs its pods. Used from the fake's thread only.
#pragma once

#include "base/json.h"

#include <map>
#include <memory>
#include <set>
#include <string>

namespace meridian::kube {
class ApiClient;
}

namespace meridian::testing {

class PoolNodes {
public:
  //! Nodes go to the API server of `kubeconfig_path` (its current context); `vswitch_regions`
  //! says in which region each vSwitch lies.
  PoolNodes(const std::string& kubeconfig_path, std::map<std::string, std::string> vswitch_regions);
  ~PoolNodes();
  PoolNodes(const PoolNodes&) = delete;
  PoolNodes& operator=(const PoolNodes&) = delete;

  //! Makes the nodes of node pool `pool_id` match `pool` (a DescribeClusterNodePools item: its
  //! desired size, labels and taints); nullptr removes them all.
  void sync(const std::string& pool_id, const Json* pool);
  //! Removes every node this object made.
  void remove_all();

private:
  std::unique_ptr<kube::ApiClient> client_;
  std::map<std::string, std::string> vswitch_regions_;
  std::set<std::string> made_; //!< node names
};

} // namespace meridian::testing
