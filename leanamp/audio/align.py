# long: one estimator (latency and polarity by cross-correlation) with its checks and reporting
"""Latency and polarity of a recorded device, estimated jointly over all its clips.

Why not the cross-correlation peak: a device's own filters (tone, coupling, the recording chain's
anti-alias filters) spread its impulse response, and the cross-correlation peak sits at the
centre of that spread, several samples after the response begins (the group delay). Shifting the
target by the peak makes it LEAD the input, which no causal model can learn. A low-frequency
clip (bass) makes it worse: its correlation is a slow oscillation whose largest lobe can land
tens of samples away, with either sign.

What this module does instead:
1. Estimate the device's linear impulse response from all clips together: the H1 estimator
   H = sum S_yx / (sum S_xx + r) over Hann-windowed Welch segments of every clip. Dividing by
   S_xx whitens the input, so a bass-heavy clip no longer dominates the timing; r (a Wiener
   regularisation, `input_range_db` below the strongest input band) fades out bands where the
   input has no energy instead of amplifying them.
2. The noise floor of that response is measured on negative lags (a causal device has no
   response there).
3. The polarity is the sign of the response's largest peak; the latency is its ONSET, where
   the response starts to climb towards that peak: walking back from the steepest rise, the
   earliest lag whose rise (difference to the previous lag) is still above `onset_fraction` of
   the steepest rise and `onset_snr` times the noise. Rises rather than levels, because a
   nonlinear device's best linear fit varies smoothly with frequency (its effective gain depends
   on each clip's level and spectrum), which puts a slow, symmetric pedestal before the onset.
4. The onset is kept at most `max_foot` samples before the MAIN rise (the earliest lag of the
   run of rises above `main_rise_fraction` of the steepest). A device driven hard by guitar-like
   input (predictable, little treble) grows a foot of small, steady rises before its true onset
   in its best linear fit: leanamp's virtual overdrive at full level came out 3 samples early
   (and latency 0 was refused as a 3-sample lead) while the same clips 20 dB quieter, or
   broadband input, gave the exact onset; a real onset's rises climb to the main rise at once.
   Known limits, measured on virtual devices: a response that rises very slowly from zero (a
   4th-order low-pass at 2 kHz) is found 1 sample late; sparse, purely harmonic input makes the
   onset noisy, up to ~5 samples early; on guitar-only input the virtual amp's bipolar response
   (tone stack, cabinet) can look like two peaks and be refused as ambiguous for some clips.

Ambiguity is refused with DataError: an input that is nearly a pure tone (its power in fewer than
NARROW_BAND_BINS frequency bins); a response too weak to see; a second peak nearly as tall
as the first (an echo, a mix of two signals); a target that leads its input; a clip the joint
response does not predict about as well as the clip's own response does (a wrong pair, or a
clip recorded with another latency or polarity). Comparing predictions rather than per-clip
peaks lets a bass clip, whose own response is broad and whose own peak wanders, agree with the
rest. `confidence` is 1 - (tallest peak outside the main lobe / main peak) of the joint
response: 1 for a clean single response, 0 for two equal peaks. Not detected: a strictly
periodic input (a short loop) is ambiguous modulo its period; the estimate then picks the
smallest-lag explanation.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from leanamp.errors import DataError, DataWarning


@dataclass
class ClipEstimate:
    """One clip's own view of the device, reported next to the joint estimate."""

    index: int
    name: str
    xcorr_peak_lag: int  # lag of the largest |cross-correlation| (the naive alignment)
    xcorr_peak_polarity: int  # sign of the cross-correlation at that lag
    xcorr_peak: float  # normalised cross-correlation there, -1..1
    response_peak_lag: int  # where this clip's own response peaks
    onset: int | None  # this clip's own response onset (None: response too weak)
    polarity: int | None  # this clip's own response polarity
    snr_db: float  # this clip's response peak over its noise floor
    support: float  # how well the joint response predicts this clip, relative to its own, -1..1
    agrees: bool  # support >= min_support

    def describe(self) -> str:
        own = (
            f"onset {self.onset:+d} polarity {self.polarity:+d}"
            if self.onset is not None and self.polarity is not None
            else "no clear response"
        )
        return (
            f"{self.name}: cross-correlation peak at {self.xcorr_peak_lag:+d} "
            f"({self.xcorr_peak:+.3f}); own response peak {self.response_peak_lag:+d}, {own}, "
            f"{self.snr_db:.0f} dB, support {self.support:+.2f}"
            + ("" if self.agrees else "  <- disagrees")
        )


@dataclass
class Alignment:
    """How the target relates in time and sign to the input, for one device setting.

    latency: samples the target lags the input (>= 0); apply_alignment shifts the target earlier
    by this much. polarity: +1, or -1 when the device inverts (apply_alignment multiplies the
    target by it). confidence: 1 - (tallest peak outside the main lobe / main peak) of the joint
    impulse-response estimate, 0..1. per_clip: each clip's own estimate (ClipEstimate).
    """

    latency: int
    polarity: int
    confidence: float
    per_clip: list[ClipEstimate] = field(default_factory=list)
    sample_rate: int = 0
    response_peak_lag: int = 0  # where the joint response peaks (latency + group delay)
    xcorr_peak_lag: int = 0  # where the summed plain cross-correlation peaks
    snr_db: float = 0.0  # joint response peak over its noise floor

    def describe(self) -> str:
        ms = 1000.0 * self.latency / self.sample_rate if self.sample_rate else float("nan")
        lines = [
            f"latency {self.latency} samples ({ms:.3f} ms), polarity "
            f"{'inverted (-1)' if self.polarity < 0 else 'normal (+1)'}, confidence "
            f"{self.confidence:.2f}, response {self.snr_db:.0f} dB above its noise floor",
            f"joint response peaks at {self.response_peak_lag} samples, summed "
            f"cross-correlation at {self.xcorr_peak_lag}"
            + (
                f": shifting by {later} would make the target lead the input by "
                f"{later - self.latency}"
                if (later := max(self.response_peak_lag, self.xcorr_peak_lag)) > self.latency
                else ""
            ),
        ]
        lines += ["  " + c.describe() for c in self.per_clip]
        return "\n".join(lines)


@dataclass
class _Spectra:
    sxx: np.ndarray
    syy: np.ndarray
    syx: np.ndarray

    def __add__(self, other: _Spectra) -> _Spectra:
        return _Spectra(self.sxx + other.sxx, self.syy + other.syy, self.syx + other.syx)


@dataclass
class _Response:
    lags: np.ndarray  # -n/2 .. n/2-1
    h: np.ndarray  # regularised impulse-response estimate at those lags
    noise: float  # robust RMS of h on negative lags
    slope_noise: float  # the same for its first difference
    xcorr: np.ndarray  # normalised plain cross-correlation at those lags
    h_freq: np.ndarray  # the regularised frequency response h comes from


def _spectra(x: np.ndarray, y: np.ndarray, nfft: int) -> _Spectra:
    """Welch auto/cross spectra over Hann segments with 50% overlap (zero-padded tail)."""
    hop = nfft // 2
    count = max(1, int(np.ceil((len(x) - nfft) / hop)) + 1) if len(x) > nfft else 1
    padded = (count - 1) * hop + nfft
    window = np.hanning(nfft)
    sxx = np.zeros(nfft // 2 + 1)
    syy = np.zeros(nfft // 2 + 1)
    syx = np.zeros(nfft // 2 + 1, dtype=complex)
    xp = np.zeros(padded)
    yp = np.zeros(padded)
    xp[: len(x)] = x
    yp[: len(y)] = y
    # Blocks of segments bound the memory used on long clips.
    frames_x = sliding_window_view(xp, nfft)[::hop]
    frames_y = sliding_window_view(yp, nfft)[::hop]
    for start in range(0, count, 64):
        fx = np.fft.rfft(frames_x[start : start + 64] * window, axis=1)
        fy = np.fft.rfft(frames_y[start : start + 64] * window, axis=1)
        sxx += np.sum(fx.real**2 + fx.imag**2, axis=0)
        syy += np.sum(fy.real**2 + fy.imag**2, axis=0)
        syx += np.sum(fy * np.conj(fx), axis=0)
    return _Spectra(sxx, syy, syx)


def _response(spectra: _Spectra, nfft: int, input_range_db: float) -> _Response:
    sxx, syy, syx = spectra.sxx, spectra.syy, spectra.syx
    # Regularised (Wiener) division: bands more than `input_range_db` below the input's
    # strongest one fade out instead of being amplified. They carry no information about the
    # device, and can carry a shared artefact: on the MorphDrive MP3s, dry and pedal files share
    # a faint noise above 20 kHz (coherence 0.7 at -95 dB) that would fake a response at lag 0.
    # No further weighting (by coherence, say): weights that favour the strong low band widen
    # the estimate into a slow pedestal before the onset.
    regularisation = max(float(sxx.max()), 1e-300) * 10 ** (-input_range_db / 10)
    h_freq = syx / (sxx + regularisation)
    h = np.fft.irfft(h_freq, nfft)
    half = nfft // 2
    lags = np.arange(-half, half)
    h = np.roll(h, half)
    # Noise floor on negative lags, away from lag 0 (band-limiting rings a little before the
    # onset) and from -n/2 (a long tail of the response wraps around there).
    noise_region = (lags >= -half + nfft // 8) & (lags <= -max(32, nfft // 32))
    noise = _robust_rms(h[noise_region])
    slope_noise = _robust_rms(np.diff(h)[noise_region[1:]])
    xc = np.roll(np.fft.irfft(syx, nfft), half)
    # Lag-0 autocorrelations of the windowed segments, so xcorr is a correlation coefficient.
    norm = np.sqrt(float(np.fft.irfft(sxx, nfft)[0]) * float(np.fft.irfft(syy, nfft)[0]))
    xcorr = xc / norm if norm > 0 else np.zeros_like(xc)
    return _Response(lags, h, max(noise, 1e-300), max(slope_noise, 1e-300), xcorr, h_freq)


def _prediction_score(spectra: _Spectra, h_freq: np.ndarray) -> float:
    """Correlation between a clip's target and its input filtered by `h_freq` (-1..1)."""
    predicted_power = float(np.sum(np.abs(h_freq) ** 2 * spectra.sxx))
    if predicted_power <= 0:
        return 0.0
    cross = float(np.sum(np.real(np.conj(h_freq) * spectra.syx)))
    return cross / np.sqrt(predicted_power * float(np.sum(spectra.syy)))


# Below this many occupied frequency bins the input is a tone or two (a sine: 2.2, a sine with
# one harmonic 2.5; a bass DI 6-11, guitar 26-45, noise ~2000).
NARROW_BAND_BINS = 4.0


def _occupied_bins(power: np.ndarray) -> float:
    """Participation ratio (sum p)^2 / sum p^2 of a power spectrum: how many bins hold it."""
    total = float(np.sum(power))
    return total**2 / max(float(np.sum(power**2)), 1e-300)


def _robust_rms(v: np.ndarray) -> float:
    return 1.4826 * float(np.median(np.abs(v - np.median(v))))


@dataclass
class _Estimate:
    onset: int
    polarity: int
    peak_lag: int
    snr: float
    second_ratio: float


def _estimate(
    resp: _Response,
    max_latency: int,
    onset_snr: float,
    onset_fraction: float,
    nfft: int,
    rise_window: int,
    main_rise_fraction: float,
    max_foot: int,
) -> _Estimate:
    lags, h = resp.lags, resp.h
    window = (lags >= -max_latency) & (lags <= max_latency + nfft // 8)
    idx = np.flatnonzero(window)
    k = int(idx[np.argmax(np.abs(h[idx]))])
    polarity = 1 if h[k] >= 0 else -1
    g = polarity * h
    peak = float(g[k])
    # The onset is where the response starts to climb: walking back from its steepest rise,
    # the earliest lag whose rise over the previous lag is still above `onset_fraction` of the
    # steepest one and above the noise. Rises, not levels: a nonlinear device's best linear
    # fit varies smoothly with frequency (its effective gain depends on each clip's level and
    # spectrum), which adds a slow symmetric pedestal before the onset; a level threshold walks
    # into it, a rise threshold does not.
    rise = np.diff(g, prepend=g[0])
    first = max(int(idx[0]) + 1, k - rise_window)
    steepest = first + int(np.argmax(rise[first : k + 1]))
    threshold = max(onset_fraction * float(rise[steepest]), onset_snr * resp.slope_noise)
    onset_index = steepest
    while onset_index - 1 > idx[0] and rise[onset_index - 1] > threshold:
        onset_index -= 1
    # A foot of small rises longer than `max_foot` before the main rise is the nonlinear fit's
    # pedestal, not the response (see the module docstring, step 4).
    main_index = steepest
    main_threshold = max(main_rise_fraction * float(rise[steepest]), threshold)
    while main_index - 1 > idx[0] and rise[main_index - 1] > main_threshold:
        main_index -= 1
    onset_index = max(onset_index, main_index - max_foot)
    # Main lobe: the same-sign region around the peak; anything tall outside it is a rival.
    lo = k
    while lo - 1 >= idx[0] and g[lo - 1] > 0:
        lo -= 1
    hi = k
    while hi + 1 <= idx[-1] and g[hi + 1] > 0:
        hi += 1
    outside = np.concatenate([np.abs(h[idx[0] : lo]), np.abs(h[hi + 1 : idx[-1] + 1])])
    second = float(outside.max()) if outside.size else 0.0
    return _Estimate(
        onset=int(lags[onset_index]),
        polarity=polarity,
        peak_lag=int(lags[k]),
        snr=peak / resp.noise,
        second_ratio=second / peak if peak > 0 else 1.0,
    )


def _channel0(a: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 2:
        a = a[:, 0]
    if a.ndim != 1:
        raise DataError(f"{what}: expected (time,) or (time, channels) audio, got {a.shape}")
    return a.astype(np.float64)


def estimate_alignment(
    pairs: list[tuple[np.ndarray, np.ndarray]],
    sample_rate: int,
    max_latency: int = 1024,
    *,
    names: list[str] | None = None,
    min_snr_db: float = 20.0,
    ambiguity_ratio: float = 0.8,
    warn_ratio: float = 0.6,
    onset_snr: float = 4.0,
    onset_fraction: float = 0.05,
    min_support: float = 0.5,
    input_range_db: float = 60.0,
    main_rise_fraction: float = 0.25,
    max_foot: int = 1,
) -> Alignment:
    """One latency and one polarity for all (input, target) clips of one device setting.

    pairs: (input, target) arrays at `sample_rate`, input (time,) or (time, channels) (channel 0
    is used), target (time,) or (time, 1), same length per pair. max_latency: the largest lag
    considered, in samples. names: clip names for messages (default "clip <i>").

    DataError when: the joint response is weaker than `min_snr_db` over its noise floor; a
    second peak reaches `ambiguity_ratio` of the main one (a DataWarning from `warn_ratio`); the
    target leads the input; the onset is beyond `max_latency`; a clip (a wrong pair, another
    latency or polarity) does not support the joint estimate, i.e. the joint linear response
    predicts its target less than `min_support` times as well (correlation) as the clip's own.
    The onset is kept at most `max_foot` samples before the main rise, where the response's
    rises exceed `main_rise_fraction` of its steepest. See the module docstring for the method.
    """
    if not pairs:
        raise DataError("no clips to align: give at least one (input, target) pair")
    if max_latency < 0:
        raise DataError(f"max_latency must be >= 0, got {max_latency}")
    if max_foot < 0 or not onset_fraction < main_rise_fraction < 1:
        raise DataError(
            f"need max_foot >= 0 and onset_fraction < main_rise_fraction < 1, got max_foot="
            f"{max_foot}, onset_fraction={onset_fraction}, main_rise_fraction={main_rise_fraction}"
        )
    names = list(names) if names is not None else [f"clip {i}" for i in range(len(pairs))]
    if len(names) != len(pairs):
        raise DataError(f"{len(names)} names for {len(pairs)} clips")
    # Room for the search (up to max_latency + nfft/8) and for a noise floor on negative lags.
    nfft = 1 << int(np.ceil(np.log2(max(4096, 3 * max_latency))))
    # The steepest rise is sought this far before the peak (1.3 ms).
    rise_window = max(8, int(round(64 * sample_rate / 48000)))

    clips = []
    for (x, y), name in zip(pairs, names, strict=True):
        x = _channel0(x, f"{name} input")
        y = _channel0(y, f"{name} target")
        if len(x) != len(y):
            raise DataError(
                f"{name}: input has {len(x)} samples, target {len(y)}; check the pair first "
                "(leanamp.audio.load_pair trims or refuses mismatched lengths)"
            )
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise DataError(f"{name}: holds NaN or infinite samples")
        if not (np.any(x) and np.any(y)):
            raise DataError(f"{name}: the {'input' if not np.any(x) else 'target'} is silent")
        clips.append((x, y))

    spectra = [_spectra(x, y, nfft) for x, y in clips]
    joint_spectra = spectra[0]
    for s in spectra[1:]:
        joint_spectra = joint_spectra + s
    everything = ", ".join(names) if len(names) <= 4 else f"{len(names)} clips"
    # A near-pure tone's delay is only known modulo its period: any estimate is a guess, and the
    # checks below would blame swapped files or an echo.
    if _occupied_bins(joint_spectra.sxx) < NARROW_BAND_BINS:
        raise DataError(
            f"{everything}: the input is nearly a pure tone, too narrow-band to measure latency "
            "(a delay by whole periods looks the same). Record a varied input (playing, a sweep "
            "or noise), or skip alignment (--no-align) if the latency is known to be 0."
        )
    joint_resp = _response(joint_spectra, nfft, input_range_db)

    def estimate(response: _Response) -> _Estimate:
        return _estimate(
            response, max_latency, onset_snr, onset_fraction, nfft, rise_window,
            main_rise_fraction, max_foot,
        )  # fmt: skip

    joint = estimate(joint_resp)
    snr_db = 20 * np.log10(joint.snr)
    if snr_db < min_snr_db:
        raise DataError(
            f"{everything}: the target does not follow the input (response only {snr_db:.1f} dB "
            f"above its noise floor, need {min_snr_db:g}). Are these the right files, recorded "
            "through the device at the same time?"
        )
    if joint.second_ratio >= ambiguity_ratio:
        raise DataError(
            f"{everything}: ambiguous alignment: a second peak {100 * joint.second_ratio:.0f}% as "
            f"tall as the main one (at {joint.peak_lag} samples). The target holds an echo or "
            "a repeated copy, or the input is periodic; record a varied input without loops "
            "and check the routing."
        )
    if joint.peak_lag < 0 or joint.onset < -2:
        raise DataError(
            f"{everything}: the target leads the input by {-joint.onset} samples. Input and "
            "target are swapped, or the target was moved earlier; pass the dry file as input."
        )
    latency = max(0, joint.onset)
    if latency > max_latency:
        raise DataError(
            f"{everything}: the target starts responding after {latency} samples, beyond "
            f"max_latency={max_latency}; raise max_latency or trim the recording's start"
        )

    per_clip: list[ClipEstimate] = []
    problems: list[str] = []
    for i, (s, name) in enumerate(zip(spectra, names, strict=True)):
        resp = _response(s, nfft, input_range_db)
        est = estimate(resp)
        clip_snr_db = 20 * np.log10(est.snr)
        strong = clip_snr_db >= min_snr_db
        # Support, not equal estimates: a clip with little treble (bass) has a broad response
        # whose own peak wanders, yet it agrees if the joint response predicts its target
        # about as well as its own response does. A clip recorded with another latency or
        # polarity, or not through the device, does not.
        support = _prediction_score(s, joint_resp.h_freq) / max(
            _prediction_score(s, resp.h_freq), 1e-300
        )
        agrees = support >= min_support
        window = (resp.lags >= -max_latency) & (resp.lags <= max_latency)
        xi = np.flatnonzero(window)
        xk = int(xi[np.argmax(np.abs(resp.xcorr[xi]))])
        per_clip.append(
            ClipEstimate(
                index=i,
                name=name,
                xcorr_peak_lag=int(resp.lags[xk]),
                xcorr_peak_polarity=1 if resp.xcorr[xk] >= 0 else -1,
                xcorr_peak=float(resp.xcorr[xk]),
                response_peak_lag=est.peak_lag,
                support=float(support),
                onset=est.onset if strong else None,
                polarity=est.polarity if strong else None,
                snr_db=float(clip_snr_db),
                agrees=bool(agrees),
            )
        )
        if agrees:
            continue
        if not strong:
            problems.append(
                f"{name}: its target does not follow its input (response {clip_snr_db:.1f} dB "
                f"above noise; the joint response predicts it {100 * support:.0f}% as well as "
                "its own): a wrong pair, or a clip recorded through something else?"
            )
        else:
            problems.append(
                f"{name}: its own response peaks at {est.peak_lag} samples with polarity "
                f"{est.polarity:+d}, the clips together at {joint.peak_lag} with polarity "
                f"{joint.polarity:+d}; the joint response predicts this clip "
                f"{100 * support:.0f}% as well as its own"
            )
    if problems:
        raise DataError(
            "the clips disagree, so one latency and polarity cannot be trusted:\n  "
            + "\n  ".join(problems)
            + "\nCheck that every clip was recorded through the same device, setting and "
            "interface routing; align clips from different sessions separately."
        )

    if joint.second_ratio >= warn_ratio:
        warnings.warn(
            f"{everything}: alignment is only fairly clear: a second peak is "
            f"{100 * joint.second_ratio:.0f}% as tall as the main one; listen to the aligned "
            "pair before training",
            DataWarning,
            stacklevel=2,
        )

    lags = joint_resp.lags
    window = (lags >= -max_latency) & (lags <= max_latency)
    xi = np.flatnonzero(window)
    xcorr_peak = int(lags[xi[np.argmax(np.abs(joint_resp.xcorr[xi]))]])
    return Alignment(
        latency=latency,
        polarity=joint.polarity,
        confidence=float(np.clip(1.0 - joint.second_ratio, 0.0, 1.0)),
        per_clip=per_clip,
        sample_rate=int(sample_rate),
        response_peak_lag=joint.peak_lag,
        xcorr_peak_lag=xcorr_peak,
        snr_db=float(snr_db),
    )


def apply_alignment(
    x: np.ndarray, y: np.ndarray, alignment: Alignment
) -> tuple[np.ndarray, np.ndarray]:
    """Shift the target earlier by the latency and fix its polarity, so y[n] answers x[n].

    x: (time, channels) or (time,); y: (time,) (or (time, 1)). Drops the first `latency` samples
    of y and the last `latency` of x; multiplies y by `polarity`.
    """
    latency = int(alignment.latency)
    if latency < 0:
        raise DataError(f"latency must be >= 0, got {latency}")
    if alignment.polarity not in (1, -1):
        raise DataError(f"polarity must be +1 or -1, got {alignment.polarity}")
    x = np.asarray(x)
    y = np.asarray(y)
    if len(x) != len(y):
        raise DataError(f"input has {len(x)} samples, target {len(y)}: align a checked pair")
    if latency >= len(y):
        raise DataError(f"latency {latency} is longer than the clip ({len(y)} samples)")
    end = len(x) - latency
    return x[:end], (y[latency:] * alignment.polarity).astype(y.dtype, copy=False)
