// The configuration file of `meridian run --config FILE`: the fleets one process reconciles, each
// from its own repository (schemas/fleets.v1.json). It lives outside Git, next to the process's
// credentials. Every mistake is a UserError `FILE:LINE: fleets[N].field: what was expected`.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace meridian {

struct FleetConfig {
  std::string name;                 //!< unique; the log's and metrics' `fleet`, the state subdirectory
  std::string repository;
  std::string ref;                  //!< "" = the remote's default branch
  std::string path;
  std::chrono::milliseconds interval{60'000};
  std::string backend = "sim";      //!< sim | kube
  std::string kube_config;          //!< with kube: the per-cluster binding file (as --kube-config)
  std::string owner;                //!< "" = the fleet's name
  bool suspend = false;
  bool self_heal = false;
  bool prune = false;
  std::string ssh_key_file;         //!< credentials: files, never values
  std::string netrc_file;
  std::string webhook_secret_file;
  int line = 0;                     //!< where the fleet starts in the file
};

struct FleetsConfig {
  std::string file;
  std::vector<FleetConfig> fleets;  //!< in file order
};

//! Reads and checks `path`; relative file names in it are relative to the file's directory.
FleetsConfig load_fleets_config(const std::string& path);

} // namespace meridian
