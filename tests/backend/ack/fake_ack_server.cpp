// The fake ACK (fake_ack.h) as a process, for command-line tests. The kubeconfig it hands out
// points at test Kubernetes API servers (TLS, token ack-user-token; one per registered cluster, one
// shared by the clusters ACK creates), or, with --kubeconfig, at that file's API server for every
// cluster (a real one: the test kit), where each node pool's nodes then appear as Node objects
// (pool_nodes.h; --vswitch says which region a vSwitch is in) and are removed on exit.
//
//   fake_ack_server KEY_ID SECRET [--registered NAME:REGION]... [--sold-out INSTANCE_TYPE]...
//                   [--kubeconfig FILE [--vswitch VSWITCH:REGION]...]
//
// Prints `url URL`, one `cluster NAME ID` per registered cluster and `ready`, then serves until
// SIGTERM or SIGINT.
#include "../kube/fake_apiserver.h"
#include "fake_ack.h"
#include "pool_nodes.h"

#include "backend/kube/kubeconfig.h"

#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  using namespace meridian;
  const char* usage = "usage: fake_ack_server KEY_ID SECRET [--registered NAME:REGION]... [--sold-out INSTANCE_TYPE]... "
                      "[--kubeconfig FILE [--vswitch VSWITCH:REGION]...]\n";
  if (argc < 3) {
    std::cerr << usage;
    return 2;
  }
  std::vector<std::string> registered, sold_out;
  std::string kubeconfig_file;
  std::map<std::string, std::string> vswitch_regions;
  for (int index = 3; index < argc; index += 2) {
    const std::string flag = argv[index];
    if (index + 1 >= argc) {
      std::cerr << flag << ": expected a value\n" << usage;
      return 2;
    }
    const std::string value = argv[index + 1];
    if (flag == "--registered") {
      registered.push_back(value);
    } else if (flag == "--sold-out") {
      sold_out.push_back(value);
    } else if (flag == "--kubeconfig") {
      kubeconfig_file = value;
    } else if (flag == "--vswitch" && value.find(':') != std::string::npos) {
      vswitch_regions[value.substr(0, value.find(':'))] = value.substr(value.find(':') + 1);
    } else {
      std::cerr << "unknown option " << flag << "\n" << usage;
      return 2;
    }
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr); // before the servers' threads start: only sigwait sees them

  std::optional<testing::TestCertificates> certificates;
  std::vector<std::unique_ptr<testing::FakeApiServer>> servers;
  std::unique_ptr<testing::PoolNodes> nodes;
  std::string real_kubeconfig;
  if (!kubeconfig_file.empty()) {
    std::ifstream in(kubeconfig_file);
    std::ostringstream text;
    text << in.rdbuf();
    real_kubeconfig = text.str();
    if (!in || real_kubeconfig.empty()) {
      std::cerr << kubeconfig_file << ": cannot read the kubeconfig\n";
      return 2;
    }
    nodes = std::make_unique<testing::PoolNodes>(kubeconfig_file, vswitch_regions);
  } else {
    certificates = testing::make_certificates();
  }
  // A kubeconfig for a cluster: the real API server's, or a new test API server's.
  const auto kubeconfig = [&]() {
    if (!real_kubeconfig.empty())
      return real_kubeconfig;
    servers.push_back(std::make_unique<testing::FakeApiServer>(*certificates));
    servers.back()->add_token("ack-user-token", "admin");
    return fmt::format(
        "apiVersion: v1\nkind: Config\ncurrent-context: ack\nclusters: [{{name: c, cluster: {{server: \"{}\", certificate-authority-data: {}}}}}]\n"
        "users: [{{name: ack, user: {{token: ack-user-token}}}}]\ncontexts: [{{name: ack, context: {{cluster: c, user: ack}}}}]\n",
        servers.back()->url(), kube::encode_base64(certificates->ca_pem));
  };
  auto fake = std::make_unique<testing::FakeAck>();
  testing::FakeAck& ack = *fake;
  ack.add_key(argv[1], argv[2]);
  ack.task_polls = 1;
  ack.default_kubeconfig = kubeconfig();
  if (nodes)
    ack.pool_changed = [&nodes](const std::string& pool_id, const Json* pool) {
      try {
        nodes->sync(pool_id, pool);
      } catch (const std::exception& error) {
        std::cerr << "fake_ack_server: nodes of node pool " << pool_id << ": " << error.what() << "\n";
      }
    };
  for (const std::string& sold : sold_out)
    ack.sold_out.insert(sold);
  std::cout << "url " << ack.url() << "\n";
  for (const std::string& value : registered) {
    const size_t colon = value.find(':');
    const std::string name = value.substr(0, colon);
    const std::string id = ack.add_cluster(name, colon == std::string::npos ? "cn-hangzhou" : value.substr(colon + 1), "ExternalKubernetes", "Default");
    const std::string config = kubeconfig();
    ack.set_kubeconfig(id, config, config);
    std::cout << "cluster " << name << " " << id << "\n";
  }
  std::cout << "ready" << std::endl;
  int received = 0;
  sigwait(&signals, &received);
  fake.reset(); // the server's thread ends before the nodes go
  if (nodes) {
    try {
      nodes->remove_all();
    } catch (const std::exception& error) {
      std::cerr << "fake_ack_server: removing the node pools' nodes: " << error.what() << "\n";
    }
  }
  if (certificates)
    std::filesystem::remove_all(certificates->dir);
  return 0;
}
