// leanamp's driver for RTNeural's compile-time API: the model type fixes the LSTM's sizes at
// compile time (ModelT<float, 1, 1, LSTMLayerT<float, 1, H>, DenseT<float, H, 1>>), as AIDA-X
// compiles one model per supported size; weights come from an AIDA-X / RTNeural JSON file through
// ModelT::parseJson. One instantiation per hidden size in the `dispatch` call of main (the
// issue-16 front's sizes and a few more); the file's size picks it.
// Runs sample by sample with `forward`; the output gets the input added when "in_skip" is 1.
// Same command line and "key value" output as rtneural_driver.cpp (mono models only):
//   rtneural_static_driver MODEL.json process IN.f32 OUT.f32 1 BLOCK
//   rtneural_static_driver MODEL.json time SECONDS BLOCK
#include <algorithm>
#include <exception>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <RTNeural/RTNeural.h>

#include "driver_common.h"

const char* const driver::program = "rtneural_static_driver";

namespace
{
using driver::fail;

template <int H>
int run(const nlohmann::json& file, const std::vector<std::string>& args, bool skip)
{
  using Model = RTNeural::ModelT<float, 1, 1, RTNeural::LSTMLayerT<float, 1, H>, RTNeural::DenseT<float, H, 1>>;
  auto model = std::make_unique<Model>(); // heap: a large model's weights exceed a safe stack
  model->parseJson(file, false);
  model->reset();
  const int block = driver::block_of(args);
  if (block == 0)
    return fail("BLOCK must be a positive number of samples");
  std::cout << "loader ModelT\nhidden_size " << H << "\nin_channels 1\nskip " << skip << "\n";
  std::vector<float> in_block(block), out_block(block);
  auto process_block = [&](int n) {
    for (int i = 0; i < n; i++)
      out_block[i] = model->forward(&in_block[i]) + (skip ? in_block[i] : 0.0f);
  };
  if (driver::mode_of(args) == driver::Mode::time)
    return driver::time_tone(
      args, 48000.0, block, [&](int i, double sample) { in_block[i] = static_cast<float>(sample); }, process_block);
  if (std::atoi(args[4].c_str()) != 1)
    return fail("the compile-time driver runs mono models; the file has " + args[4] + " channels");
  return driver::process_file(args, 1, block, [&](const float* in, int n, float* out) {
    std::copy_n(in, n, in_block.data());
    process_block(n);
    std::copy_n(out_block.data(), n, out);
  });
}

template <int... Sizes>
int dispatch(int hidden, const nlohmann::json& file, const std::vector<std::string>& args, bool skip)
{
  int status = -1;
  ((hidden == Sizes ? (status = run<Sizes>(file, args, skip), true) : false) || ...);
  if (status == -1)
  {
    std::string sizes;
    ((sizes += (sizes.empty() ? "" : ", ") + std::to_string(Sizes)), ...);
    return fail("no compile-time model for hidden size " + std::to_string(hidden) + "; this driver has " + sizes);
  }
  return status;
}
} // namespace

int main(int argc, char* argv[])
{
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (driver::mode_of(args) == driver::Mode::invalid)
    return fail("usage: rtneural_static_driver MODEL.json process IN.f32 OUT.f32 1 BLOCK | MODEL.json time SECONDS BLOCK");
  try
  {
    std::ifstream stream(args[0]);
    const nlohmann::json file = nlohmann::json::parse(stream);
    const auto& layers = file.at("layers");
    if (file.at("in_shape").back().get<int>() != 1 || layers.size() != 2 || layers[0].at("type") != "lstm")
      return fail("the compile-time driver runs AIDA-X files with one LSTM layer and no knobs");
    const int hidden = layers[0].at("shape").back().get<int>();
    const bool skip = file.value("in_skip", 0) != 0;
    return dispatch<4, 6, 8, 10, 12, 14, 15, 16, 18, 20, 24, 32, 40, 48, 64, 80, 96>(hidden, file, args, skip);
  }
  catch (const std::exception& e)
  {
    return fail(std::string("RTNeural refused the file: ") + e.what());
  }
}
