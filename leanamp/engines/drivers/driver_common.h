// What leanamp's engine drivers (nam_driver.cpp, rtneural_driver.cpp, rtneural_static_driver.cpp)
// share: the command line, raw float32 file I/O and the timing mode. Each driver defines
// driver::program (its name in error lines) and hands its engine's block processing to
// process_file / time_tone as lambdas (templates, so the calls inline).
//   DRIVER MODEL process IN.f32 OUT.f32 CHANNELS BLOCK
//     IN.f32: raw float32, interleaved (time, CHANNELS); OUT.f32: raw float32 (time,).
//   DRIVER MODEL time SECONDS BLOCK
//     processes SECONDS of a 110 Hz sine (amplitude 0.5); prints thread CPU and wall time.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace driver
{
extern const char* const program;

enum class Mode
{
  invalid,
  process,
  time
};

inline int fail(const std::string& message)
{
  std::cerr << program << ": " << message << "\n";
  return 1;
}

// The command's mode from its positional arguments (MODEL MODE ...).
inline Mode mode_of(const std::vector<std::string>& args)
{
  if (args.size() == 6 && args[1] == "process")
    return Mode::process;
  if (args.size() == 4 && args[1] == "time")
    return Mode::time;
  return Mode::invalid;
}

// BLOCK, the last argument in both modes; 0 if it is not a positive number.
inline int block_of(const std::vector<std::string>& args)
{
  return std::max(0, std::atoi(args.back().c_str()));
}

inline double thread_cpu_seconds()
{
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

inline std::vector<float> read_floats(const std::string& path)
{
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  std::vector<float> values(static_cast<size_t>(file.tellg()) / sizeof(float));
  file.seekg(0);
  file.read(reinterpret_cast<char*>(values.data()), values.size() * sizeof(float));
  return values;
}

// Process mode: reads IN (args[2], `channels` interleaved), calls process(in, n, out) on blocks of
// at most `block` frames (in: n * channels interleaved floats; out: n outputs), writes OUT (args[3]).
template <typename Process>
int process_file(const std::vector<std::string>& args, int channels, int block, Process process)
{
  const std::vector<float> samples = read_floats(args[2]);
  const size_t frames = samples.size() / channels;
  std::vector<float> output(frames);
  for (size_t start = 0; start < frames; start += block)
  {
    const int n = static_cast<int>(std::min<size_t>(block, frames - start));
    process(&samples[start * channels], n, &output[start]);
  }
  std::ofstream out_file(args[3], std::ios::binary);
  out_file.write(reinterpret_cast<const char*>(output.data()), output.size() * sizeof(float));
  if (!out_file)
    return fail("cannot write " + args[3]);
  std::cout << "frames " << frames << "\n";
  return 0;
}

// Time mode: SECONDS (args[2]) of the sine at `rate` in blocks of `block`; set_input(i, sample)
// puts sample i (a double) of a block on the audio input, process(n) runs the model on n samples.
template <typename SetInput, typename Process>
int time_tone(const std::vector<std::string>& args, double rate, int block, SetInput set_input, Process process)
{
  const long total = static_cast<long>(std::atof(args[2].c_str()) * rate);
  long done = 0;
  double phase = 0.0;
  const auto wall_start = std::chrono::steady_clock::now();
  const double cpu_start = thread_cpu_seconds();
  while (done < total)
  {
    const int n = static_cast<int>(std::min<long>(block, total - done));
    for (int i = 0; i < n; i++, phase += 2.0 * M_PI * 110.0 / rate)
      set_input(i, 0.5 * std::sin(phase));
    process(n);
    done += n;
  }
  const double cpu = thread_cpu_seconds() - cpu_start;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  std::cout << "samples " << done << "\ncpu_seconds " << cpu << "\nwall_seconds " << wall << "\n";
  return 0;
}
} // namespace driver
