// The fake ACK (fake_ack.h) as a process, for command-line tests, with test Kubernetes API servers
// (TLS, token ack-user-token): one per registered cluster, one shared by the clusters ACK creates.
//
//   fake_ack_server KEY_ID SECRET [--registered NAME:REGION]... [--sold-out INSTANCE_TYPE]...
//
// Prints `url URL`, one `cluster NAME ID` per registered cluster and `ready`, then serves until
// SIGTERM or SIGINT.
#include "../kube/fake_apiserver.h"
#include "fake_ack.h"

#include "backend/kube/kubeconfig.h"

#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  using namespace meridian;
  if (argc < 3) {
    std::cerr << "usage: fake_ack_server KEY_ID SECRET [--registered NAME:REGION]... [--sold-out INSTANCE_TYPE]...\n";
    return 2;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr); // before the servers' threads start: only sigwait sees them
  const testing::TestCertificates certificates = testing::make_certificates();
  const auto kubeconfig = [&](const testing::FakeApiServer& server) {
    return fmt::format(
        "apiVersion: v1\nkind: Config\ncurrent-context: ack\nclusters: [{{name: c, cluster: {{server: \"{}\", certificate-authority-data: {}}}}}]\n"
        "users: [{{name: ack, user: {{token: ack-user-token}}}}]\ncontexts: [{{name: ack, context: {{cluster: c, user: ack}}}}]\n",
        server.url(), kube::encode_base64(certificates.ca_pem));
  };
  std::vector<std::unique_ptr<testing::FakeApiServer>> servers;
  const auto new_server = [&]() -> testing::FakeApiServer& {
    servers.push_back(std::make_unique<testing::FakeApiServer>(certificates));
    servers.back()->add_token("ack-user-token", "admin");
    return *servers.back();
  };
  testing::FakeAck ack;
  ack.add_key(argv[1], argv[2]);
  ack.task_polls = 1;
  ack.default_kubeconfig = kubeconfig(new_server());
  std::cout << "url " << ack.url() << "\n";
  for (int index = 3; index + 1 < argc; index += 2) {
    const std::string flag = argv[index];
    const std::string value = argv[index + 1];
    if (flag == "--registered") {
      const size_t colon = value.find(':');
      const std::string name = value.substr(0, colon);
      const std::string id = ack.add_cluster(name, value.substr(colon + 1), "ExternalKubernetes", "Default");
      const std::string config = kubeconfig(new_server());
      ack.set_kubeconfig(id, config, config);
      std::cout << "cluster " << name << " " << id << "\n";
    } else if (flag == "--sold-out") {
      ack.sold_out.insert(value);
    } else {
      std::cerr << "unknown option " << flag << "\n";
      return 2;
    }
  }
  std::cout << "ready" << std::endl;
  int received = 0;
  sigwait(&signals, &received);
  std::filesystem::remove_all(certificates.dir);
  return 0;
}
