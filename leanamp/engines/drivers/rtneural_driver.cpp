// leanamp's driver for RTNeural: loads a JSON model file as the plugins that play it do, and runs
// it sample by sample with `forward`, as they do. Prints "key value" lines on stdout.
//   AIDA-X / RTNeural JSON ("layers"): RTNeural's run-time loader json_parser::parseJson; the
//     output gets the input added when "in_skip" is 1 (AIDA-X).
//   Automated-GuitarAmpModelling JSON ("model_data", GuitarML Proteus / NeuralPi): the state_dict
//     loaded with RTNeural's torch_helpers into an LSTM + dense model; Proteus and NeuralPi add
//     the input to the output ("skip": 1).
// Knob inputs are channels 1.. of the input, fed beside the audio sample (as the plugins feed
// their knob values).
//
//   rtneural_driver MODEL.json process IN.f32 OUT.f32 CHANNELS BLOCK
//     IN.f32: raw float32, interleaved (time, CHANNELS); OUT.f32: raw float32 (time,).
//   rtneural_driver MODEL.json time SECONDS BLOCK
//     processes SECONDS of a test signal at 48 kHz; prints thread CPU and wall time.
#include <algorithm>
#include <exception>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <RTNeural/RTNeural.h>

#include "driver_common.h"

const char* const driver::program = "rtneural_driver";

namespace
{
using driver::fail;

struct Loaded
{
  std::unique_ptr<RTNeural::Model<float>> model;
  bool skip = false;
  std::string loader;
};

// GuitarML's players: one LSTM layer "rec." and a dense head "lin." from a PyTorch state_dict.
Loaded load_guitarml(const nlohmann::json& file)
{
  const auto& info = file.at("model_data");
  const auto& state = file.at("state_dict");
  const int inputs = info.at("input_size").get<int>();
  const int hidden = info.at("hidden_size").get<int>();
  if (info.value("unit_type", std::string("LSTM")) != "LSTM" || info.value("num_layers", 1) != 1)
    throw std::runtime_error("only one-layer LSTM models are played by Proteus / NeuralPi");
  Loaded loaded;
  loaded.model = std::make_unique<RTNeural::Model<float>>(inputs);
  auto lstm = std::make_unique<RTNeural::LSTMLayer<float>>(inputs, hidden);
  auto dense = std::make_unique<RTNeural::Dense<float>>(hidden, 1);
  RTNeural::torch_helpers::loadLSTM<float>(state, "rec.", *lstm);
  RTNeural::torch_helpers::loadDense<float>(state, "lin.", *dense);
  loaded.model->addLayer(lstm.release());
  loaded.model->addLayer(dense.release());
  loaded.skip = info.value("skip", 0) != 0;
  loaded.loader = "torch_helpers";
  return loaded;
}

Loaded load(const std::string& path)
{
  std::ifstream stream(path);
  const nlohmann::json file = nlohmann::json::parse(stream);
  if (file.contains("model_data"))
    return load_guitarml(file);
  Loaded loaded;
  loaded.model = RTNeural::json_parser::parseJson<float>(file, false);
  if (!loaded.model)
    throw std::runtime_error("RTNeural's parseJson returned no model");
  loaded.skip = file.value("in_skip", 0) != 0;
  loaded.loader = "parseJson";
  return loaded;
}
} // namespace

int main(int argc, char* argv[])
{
  const std::vector<std::string> args(argv + 1, argv + argc);
  const driver::Mode mode = driver::mode_of(args);
  if (mode == driver::Mode::invalid)
    return fail("usage: rtneural_driver MODEL.json process IN.f32 OUT.f32 CHANNELS BLOCK | MODEL.json time SECONDS BLOCK");
  Loaded loaded;
  try
  {
    loaded = load(args[0]);
  }
  catch (const std::exception& e)
  {
    return fail(std::string("RTNeural refused the file: ") + e.what());
  }
  auto& model = *loaded.model;
  model.reset();
  const int inputs = model.getInSize();
  const int block = driver::block_of(args);
  if (block == 0)
    return fail("BLOCK must be a positive number of samples");
  std::cout << "loader " << loaded.loader << "\nin_channels " << inputs << "\nskip " << loaded.skip << "\n";
  std::vector<float> frame(inputs, 0.0f);
  std::vector<float> in_block(static_cast<size_t>(block) * inputs), out_block(block);
  auto process_block = [&](int n) {
    for (int i = 0; i < n; i++)
    {
      std::copy_n(&in_block[static_cast<size_t>(i) * inputs], inputs, frame.data());
      out_block[i] = model.forward(frame.data()) + (loaded.skip ? frame[0] : 0.0f);
    }
  };

  if (mode == driver::Mode::time)
    return driver::time_tone(
      args, 48000.0, block,
      [&](int i, double sample) { in_block[static_cast<size_t>(i) * inputs] = static_cast<float>(sample); },
      process_block);

  if (std::atoi(args[4].c_str()) != inputs)
    return fail("the model takes " + std::to_string(inputs) + " input channel(s), the file has " + args[4]);
  return driver::process_file(args, inputs, block, [&](const float* in, int n, float* out) {
    std::copy_n(in, static_cast<size_t>(n) * inputs, in_block.data());
    process_block(n);
    std::copy_n(out_block.data(), n, out);
  });
}
