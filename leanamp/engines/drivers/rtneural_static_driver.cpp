// leanamp's driver for RTNeural's compile-time API: the model type fixes the LSTM's sizes at
// compile time (ModelT<float, 1, 1, LSTMLayerT<float, 1, H>, DenseT<float, H, 1>>), as AIDA-X
// compiles one model per supported size; weights come from an AIDA-X / RTNeural JSON file through
// ModelT::parseJson. One instantiation per hidden size in HIDDEN_SIZES; the file's size picks it.
// Runs sample by sample with `forward`; the output gets the input added when "in_skip" is 1.
// Same command line and "key value" output as rtneural_driver.cpp (mono models only):
//   rtneural_static_driver MODEL.json process IN.f32 OUT.f32 1 BLOCK
//   rtneural_static_driver MODEL.json time SECONDS BLOCK
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <RTNeural/RTNeural.h>

namespace
{
double thread_cpu_seconds()
{
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

int fail(const std::string& message)
{
  std::cerr << "rtneural_static_driver: " << message << "\n";
  return 1;
}

std::vector<float> read_floats(const std::string& path)
{
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  std::vector<float> values(static_cast<size_t>(file.tellg()) / sizeof(float));
  file.seekg(0);
  file.read(reinterpret_cast<char*>(values.data()), values.size() * sizeof(float));
  return values;
}

template <int H>
int run(const nlohmann::json& file, const std::vector<std::string>& args, bool skip)
{
  using Model = RTNeural::ModelT<float, 1, 1, RTNeural::LSTMLayerT<float, 1, H>, RTNeural::DenseT<float, H, 1>>;
  auto model = std::make_unique<Model>(); // heap: a large model's weights exceed a safe stack
  model->parseJson(file, false);
  model->reset();
  const int block = std::atoi(args.back().c_str());
  if (block <= 0)
    return fail("BLOCK must be a positive number of samples");
  std::cout << "loader ModelT\nhidden_size " << H << "\nin_channels 1\nskip " << skip << "\n";
  std::vector<float> in_block(block), out_block(block);
  auto process_block = [&](int n) {
    for (int i = 0; i < n; i++)
      out_block[i] = model->forward(&in_block[i]) + (skip ? in_block[i] : 0.0f);
  };
  if (args[1] == "time")
  {
    const double rate = 48000.0;
    const long total = static_cast<long>(std::atof(args[2].c_str()) * rate);
    long done = 0;
    double phase = 0.0;
    const auto wall_start = std::chrono::steady_clock::now();
    const double cpu_start = thread_cpu_seconds();
    while (done < total)
    {
      const int n = static_cast<int>(std::min<long>(block, total - done));
      for (int i = 0; i < n; i++, phase += 2.0 * M_PI * 110.0 / rate)
        in_block[i] = static_cast<float>(0.5 * std::sin(phase));
      process_block(n);
      done += n;
    }
    const double cpu = thread_cpu_seconds() - cpu_start;
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    std::cout << "samples " << done << "\ncpu_seconds " << cpu << "\nwall_seconds " << wall << "\n";
    return 0;
  }
  if (std::atoi(args[4].c_str()) != 1)
    return fail("the compile-time driver runs mono models; the file has " + args[4] + " channels");
  const std::vector<float> samples = read_floats(args[2]);
  std::vector<float> output(samples.size());
  for (size_t start = 0; start < samples.size(); start += block)
  {
    const int n = static_cast<int>(std::min<size_t>(block, samples.size() - start));
    std::copy_n(&samples[start], n, in_block.data());
    process_block(n);
    std::copy_n(out_block.data(), n, &output[start]);
  }
  std::ofstream out_file(args[3], std::ios::binary);
  out_file.write(reinterpret_cast<const char*>(output.data()), output.size() * sizeof(float));
  if (!out_file)
    return fail("cannot write " + args[3]);
  std::cout << "frames " << samples.size() << "\n";
  return 0;
}

template <int... Sizes>
int dispatch(int hidden, const nlohmann::json& file, const std::vector<std::string>& args, bool skip)
{
  int status = -1;
  ((hidden == Sizes ? (status = run<Sizes>(file, args, skip), true) : false) || ...);
  if (status == -1)
    return fail("no compile-time model for hidden size " + std::to_string(hidden) + "; this driver has 8, 12, 16, 20, 24, 32, 40, 64, 80, 96");
  return status;
}
} // namespace

int main(int argc, char* argv[])
{
  const std::vector<std::string> args(argv + 1, argv + argc);
  const bool processing = args.size() == 6 && args[1] == "process";
  const bool timing = args.size() == 4 && args[1] == "time";
  if (!processing && !timing)
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
    return dispatch<8, 12, 16, 20, 24, 32, 40, 64, 80, 96>(hidden, file, args, skip);
  }
  catch (const std::exception& e)
  {
    return fail(std::string("RTNeural refused the file: ") + e.what());
  }
}
