// leanamp's driver for NeuralAmpModelerCore: loads a .nam with the engine's own loader
// (nam::get_dsp) and runs it as the Neural Amp Modeler plugin does: Reset() (which prewarms on
// zeros), then process() in fixed blocks. Prints "key value" lines on stdout.
//
//   nam_driver MODEL.nam process IN.f32 OUT.f32 CHANNELS BLOCK [--exact-tanh] [--slim V]
//     IN.f32: raw float32, interleaved (time, CHANNELS); OUT.f32: raw float32 (time,).
//   nam_driver MODEL.nam time SECONDS BLOCK [--exact-tanh] [--slim V]
//     processes SECONDS of a test signal at the model's rate; prints thread CPU and wall time.
// The plugin enables fast tanh; --exact-tanh uses std::tanh instead.
#include <exception>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "NAM/activations.h"
#include "NAM/dsp.h"
#include "NAM/get_dsp.h"
#include "NAM/slimmable.h"
#include "driver_common.h"

const char* const driver::program = "nam_driver";

namespace
{
using driver::fail;

// Zero samples Reset() ran through the model: prewarm() processes whole blocks until it has
// covered GetPrewarmSamples().
long prewarm_samples(nam::DSP& model, int block)
{
  const long wanted = model.GetPrewarmSamples();
  return wanted <= 0 ? 0 : ((wanted + block - 1) / block) * block;
}

struct Buffers
{
  std::vector<std::vector<NAM_SAMPLE>> in, out;
  std::vector<NAM_SAMPLE*> in_ptr, out_ptr;
  Buffers(int in_channels, int out_channels, int block)
  : in(in_channels, std::vector<NAM_SAMPLE>(block, 0))
  , out(out_channels, std::vector<NAM_SAMPLE>(block, 0))
  {
    for (auto& c : in)
      in_ptr.push_back(c.data());
    for (auto& c : out)
      out_ptr.push_back(c.data());
  }
};
} // namespace

int main(int argc, char* argv[])
{
  std::vector<std::string> args;
  bool exact_tanh = false;
  double slim = -1.0;
  for (int i = 1; i < argc; i++)
  {
    const std::string arg(argv[i]);
    if (arg == "--exact-tanh")
      exact_tanh = true;
    else if (arg == "--slim" && i + 1 < argc)
      slim = std::atof(argv[++i]);
    else
      args.push_back(arg);
  }
  const driver::Mode mode = driver::mode_of(args);
  if (mode == driver::Mode::invalid)
    return fail("usage: nam_driver MODEL.nam process IN.f32 OUT.f32 CHANNELS BLOCK | MODEL.nam time SECONDS BLOCK"
                " [--exact-tanh] [--slim V]");
  if (exact_tanh)
    nam::activations::Activation::disable_fast_tanh();
  else
    nam::activations::Activation::enable_fast_tanh();

  std::unique_ptr<nam::DSP> model;
  try
  {
    model = nam::get_dsp(std::filesystem::path(args[0]));
  }
  catch (const std::exception& e)
  {
    return fail(std::string("NAM Core refused the file: ") + e.what());
  }
  if (!model)
    return fail("NAM Core returned no model");
  if (slim >= 0.0)
  {
    auto* slimmable = dynamic_cast<nam::SlimmableModel*>(model.get());
    if (slimmable == nullptr)
      return fail("--slim given but the model is not slimmable");
    slimmable->SetSlimmableSize(slim);
  }
  const int block = driver::block_of(args);
  if (block == 0)
    return fail("BLOCK must be a positive number of samples");
  const double rate = model->GetExpectedSampleRate() > 0 ? model->GetExpectedSampleRate() : 48000.0;
  const int in_channels = model->NumInputChannels();
  const int out_channels = model->NumOutputChannels();
  model->Reset(rate, block);
  std::cout << "sample_rate " << rate << "\nin_channels " << in_channels << "\nout_channels " << out_channels
            << "\nprewarm_samples " << prewarm_samples(*model, block) << "\n";
  Buffers buffers(in_channels, out_channels, block);

  if (mode == driver::Mode::time)
    return driver::time_tone(
      args, rate, block, [&](int i, double sample) { buffers.in[0][i] = static_cast<NAM_SAMPLE>(sample); },
      [&](int n) { model->process(buffers.in_ptr.data(), buffers.out_ptr.data(), n); });

  const int file_channels = std::atoi(args[4].c_str());
  if (file_channels != in_channels)
    return fail("the model takes " + std::to_string(in_channels) + " input channel(s), the file has "
                + std::to_string(file_channels));
  return driver::process_file(args, in_channels, block, [&](const float* in, int n, float* out) {
    for (int c = 0; c < in_channels; c++)
      for (int i = 0; i < n; i++)
        buffers.in[c][i] = in[i * in_channels + c];
    model->process(buffers.in_ptr.data(), buffers.out_ptr.data(), n);
    for (int i = 0; i < n; i++)
      out[i] = static_cast<float>(buffers.out[0][i]);
  });
}
