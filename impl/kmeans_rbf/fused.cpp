// Fused CPU chunk kernels of kmeans_rbf.streaming, built on first use by kmeans_rbf.fused.
//
// The maths and the certification are streaming's (its module docstring); this file only
// fuses them: a tile of rows is centred, multiplied by the centres and scanned in the
// registers, in the transposed layout (a vector of rows per centre), where the running
// minimum over the centres is a vertical operation on whole vectors of rows.
// Compiled with -ffp-contract=off: every rounding is the one written here (the one
// function that contracts multiply-adds says so).

#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

// Vectors of the machine's width (-march=native): 64 bytes with AVX-512, 32 with AVX,
// 16 otherwise. Wider-than-native vector types are lowered by GCC through memory (measured
// in a build without AVX-512 on this machine: the Lloyd step 50 ms with 64-byte vectors,
// 7.2 ms with 32-byte ones).
#if defined(__AVX512F__)
constexpr int kVectorBytes = 64;
#elif defined(__AVX__)
constexpr int kVectorBytes = 32;
#else
constexpr int kVectorBytes = 16;
#endif

template <typename T> struct Lanes;
template <> struct Lanes<float> {
  static constexpr int L = kVectorBytes / 4;
  typedef float V __attribute__((vector_size(kVectorBytes)));
  typedef int32_t I __attribute__((vector_size(kVectorBytes)));
  typedef double VD __attribute__((vector_size(2 * kVectorBytes)));  // the lanes in float64
};
template <> struct Lanes<double> {
  static constexpr int L = kVectorBytes / 8;
  typedef double V __attribute__((vector_size(kVectorBytes)));
  typedef int64_t I __attribute__((vector_size(kVectorBytes)));
  typedef double VD __attribute__((vector_size(kVectorBytes)));
};

template <typename V> V load(const void* p) { V v; std::memcpy(&v, p, sizeof v); return v; }
template <typename V> void store(void* p, V v) { std::memcpy(p, &v, sizeof v); }

template <typename T, typename V> T tree_sum(V v) {
  constexpr int L = Lanes<T>::L;
  T r[L];
  std::memcpy(r, &v, sizeof v);
  for (int w = L / 2; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) r[l] += r[l + w];
  return r[0];
}

// exp of nonpositive arguments at or above the floor of streaming._softmax (the log of
// the smallest normal number, plus 1), on whole vectors: Cody-Waite reduction
// x = n ln2 + r, |r| <= ln2 / 2 (ln2 in two parts, the first with trailing zeros so that
// n ln2_hi is exact), the Cephes polynomial (float) or Pade approximant (double) of
// exp(r), and 2^n from its bits (n >= -125 in float32, >= -1021 in float64, so 2^n is a
// normal number). Error within 2 units in the last place (tests/test_fused.py measures
// it: 2 million float32 arguments against float64's exp, 2,000 float64 ones against
// mpmath); exp(0) = 1 exactly, as the one-hot checks need.
template <typename T> struct Exp;
template <> struct Exp<float> {
  using V = Lanes<float>::V;
  using I = Lanes<float>::I;
  static V apply(V x) {
    const V t = x * 1.44269504088896341f;
    V n = __builtin_convertvector(__builtin_convertvector(t - 0.5f, I), V);  // trunc toward 0 of t - 1/2 <= 0
    n = (t - 0.5f) < n ? n - 1.0f : n;                                     // floor(t - 1/2)
    n = (t - n) > 0.5f ? n + 1.0f : n;                                     // round to nearest
    V r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    const V z = r * r;
    V p = 1.9875691500e-4f * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const V y = (p * z + r) + 1.0f;
    const I bits = (__builtin_convertvector(n, I) + 127) << 23;
    V scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return y * scale;
  }
};
template <> struct Exp<double> {
  using V = Lanes<double>::V;
  using I = Lanes<double>::I;
  static V apply(V x) {
    const V t = x * 1.4426950408889634073599;
    V n = __builtin_convertvector(__builtin_convertvector(t - 0.5, I), V);
    n = (t - 0.5) < n ? n - 1.0 : n;
    n = (t - n) > 0.5 ? n + 1.0 : n;
    V r = x - n * 6.93145751953125e-1;
    r = r - n * 1.42860682030941723212e-6;
    const V rr = r * r;
    const V px = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr + 9.99999999999999999910e-1);
    const V qx = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr + 2.27265548208155028766e-1) * rr +
                 2.00000000000000000009e0;
    const V y = 1.0 + 2.0 * (px / (qx - px));
    const I bits = (__builtin_convertvector(n, I) + 1023) << 52;
    V scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return y * scale;
  }
};

// exp_nonpositive: exp in place on a contiguous tensor of values in [floor, 0] (tests).
void exp_nonpositive(at::Tensor& x) {
  TORCH_CHECK(x.device().is_cpu() && x.is_contiguous() && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble),
              "exp_nonpositive: a contiguous float32 or float64 CPU tensor");
  auto run = [&](auto* p) {
    using T = std::remove_pointer_t<decltype(p)>;
    using V = typename Lanes<T>::V;
    constexpr int L = Lanes<T>::L;
    const int64_t n = x.numel();
    int64_t i = 0;
    for (; i + L <= n; i += L) store(p + i, Exp<T>::apply(load<V>(p + i)));
    if (i < n) {  // the tail through a padded vector
      T tail[L] = {};
      std::memcpy(tail, p + i, (n - i) * sizeof(T));
      store(tail, Exp<T>::apply(load<V>(tail)));
      std::memcpy(p + i, tail, (n - i) * sizeof(T));
    }
  };
  if (x.scalar_type() == at::kFloat)
    run(x.data_ptr<float>());
  else
    run(x.data_ptr<double>());
}

void check_cpu(const at::Tensor& t, const char* name, at::ScalarType dtype) {
  TORCH_CHECK(t.device().is_cpu(), name, " must be on the CPU");
  TORCH_CHECK(t.scalar_type() == dtype, name, " has dtype ", t.scalar_type(), ", expected ", dtype);
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

// In-place transpose of an L x L tile held in L vectors: log2(L) stages of two-input
// shuffles; at the stage of width W, vectors r and r + W (r & W == 0) exchange their
// off-diagonal W x W sub-blocks.
template <int L, int W, bool High>
constexpr int exchange_index(size_t c) {
  return High ? ((c & W) ? int(L + c) : int(c + W)) : ((c & W) ? int(L + c - W) : int(c));
}
template <typename T, int W, bool High, size_t... C>
inline typename Lanes<T>::V exchange(typename Lanes<T>::V a, typename Lanes<T>::V b, std::index_sequence<C...>) {
  constexpr int L = Lanes<T>::L;
#if defined(__clang__)
  return __builtin_shufflevector(a, b, exchange_index<L, W, High>(C)...);
#else  // GCC: __builtin_shuffle, older than its __builtin_shufflevector (GCC 12)
  return __builtin_shuffle(a, b, typename Lanes<T>::I{exchange_index<L, W, High>(C)...});
#endif
}
template <typename T, int W>
inline void transpose_stage(typename Lanes<T>::V* t) {
  constexpr int L = Lanes<T>::L;
  for (int r = 0; r < L; ++r) {
    if (r & W) continue;
    const auto a = t[r], b = t[r + W];
    t[r] = exchange<T, W, false>(a, b, std::make_index_sequence<L>{});
    t[r + W] = exchange<T, W, true>(a, b, std::make_index_sequence<L>{});
  }
}
template <typename T>
inline void transpose(typename Lanes<T>::V* t) {
  constexpr int L = Lanes<T>::L;
  if constexpr (L > 1) transpose_stage<T, 1>(t);
  if constexpr (L > 2) transpose_stage<T, 2>(t);
  if constexpr (L > 4) transpose_stage<T, 4>(t);
  if constexpr (L > 8) transpose_stage<T, 8>(t);
  static_assert(L <= 16, "stages for up to 16 lanes");
}

// Centre the rows [i0, i0 + r) (r <= L) of X into the tile AT (D, L), transposed: lane l
// of AT[j] is a_{i0 + l, j} = x_{i0 + l, j} - c_j; lanes past r are 0.
template <typename T>
void centred_tile(const T* X, const T* c, int64_t i0, int64_t r, int64_t D, T* AT) {
  using V = typename Lanes<T>::V;
  constexpr int L = Lanes<T>::L;
  int64_t j = 0;
  if (r == L) {
    for (; j + L <= D; j += L) {  // L x L blocks through the registers
      V t[L];
      const V cj = load<V>(c + j);
      for (int l = 0; l < L; ++l) t[l] = load<V>(X + (i0 + l) * D + j) - cj;
      transpose<T>(t);
      for (int l = 0; l < L; ++l) store(AT + (j + l) * L, t[l]);
    }
  }
  for (; j < D; ++j)
    for (int64_t l = 0; l < L; ++l) AT[j * L + l] = l < r ? T(X[(i0 + l) * D + j] - c[j]) : T(0);
}

// The register tile: R tiles of L rows by G centres, R * G accumulators whose fused
// multiply-adds (latency 4, two a cycle) keep the FMA units busy, each centre's entry
// loaded once for R tiles, and few enough registers not to spill. Measured on 9,600 rows,
// single-threaded: with one tile, G = 8 the fastest of 8, 16, 24 at K = 64, D = 32 (and of
// 4, 8, 12 with the centres in the other layout, (K, D)); then R = 2 within noise of R = 1
// and 3 there, and 1.4 to 1.9 times faster than R = 1 at K = 1024 (the centres, read once
// per pass, stream from the cache: R tiles share a read).
// Built without AVX-512 (16 vector registers), R = 2, G = 6 and R = 1, G = 8 measured
// within noise of each other (the Lloyd step 7.6-8.8 ms on two threads, against 5.0 with
// AVX-512), R = 1, G = 4 about 25 % slower.
#if defined(__AVX512F__)
constexpr int kRowTiles = 2, kGroup = 8;
#else
constexpr int kRowTiles = 2, kGroup = 6;
#endif

// acc[r * G + g] = sum_j AT_r[j] * minus_2BT[j, k0 + g]: the products a_i . (-2 b_k) of the
// R tiles' rows (AT_r = AT + r D L) and G centres, in order j = 0, 1, ..., by fused
// multiply-adds (contracted here, and only here: the expansion's bound holds for any
// order, with or without them).
template <typename T, int R, int G>
__attribute__((optimize("fp-contract=fast"))) inline void products(const T* AT, int64_t D, const T* minus_2BT,
                                                                  int64_t K, int64_t k0, typename Lanes<T>::V* acc) {
  using V = typename Lanes<T>::V;
  constexpr int L = Lanes<T>::L;
  V s[R][G];
  for (int r = 0; r < R; ++r)
    for (int g = 0; g < G; ++g) s[r][g] = V{};
  for (int64_t j = 0; j < D; ++j) {
    V a[R];
    for (int r = 0; r < R; ++r) a[r] = load<V>(AT + (r * D + j) * L);
    const T* b = minus_2BT + j * K + k0;
    for (int g = 0; g < G; ++g) {
      const T bg = b[g];
      for (int r = 0; r < R; ++r) s[r][g] += a[r] * bg;
    }
  }
  for (int r = 0; r < R; ++r)
    for (int g = 0; g < G; ++g) acc[r * G + g] = s[r][g];
}

// The running scan of one tile of rows, lane by lane: the first minimum, its index, the
// runner-up.
template <typename T>
struct Scan {
  using V = typename Lanes<T>::V;
  using I = typename Lanes<T>::I;
  V best, runner_up;
  I index;
};

// Centres k0 .. k0 + G - 1 of R tiles: d^ = (product + m_k) + n_i, stored in S (column l
// of tile r at S + r L, the first `rows` columns) when S is given, and scanned.
template <typename T, int R, int G>
inline void scan_group(const T* AT, int64_t D, const T* minus_2BT, const T* m, int64_t K, int64_t k0,
                       const typename Lanes<T>::V* n, T* S, int64_t cols, int64_t rows, Scan<T>* scan) {
  using V = typename Lanes<T>::V;
  using I = typename Lanes<T>::I;
  using Int = decltype(I{}[0] + 0);
  constexpr int L = Lanes<T>::L;
  V acc[R * G];
  products<T, R, G>(AT, D, minus_2BT, K, k0, acc);
  for (int r = 0; r < R; ++r) {
    Scan<T>& tile = scan[r];
    for (int g = 0; g < G; ++g) {
      const int64_t k = k0 + g;
      const V v = (acc[r * G + g] + m[k]) + n[r];
      if (S != nullptr) {
        if (rows == R * L)
          store(S + k * cols + r * L, v);
        else  // a last tile (R = 1) of fewer rows
          std::memcpy(S + k * cols, &v, rows * sizeof(T));
      }
      const I lower = v < tile.best;  // strict: the first minimum is kept
      tile.runner_up = lower ? tile.best : (v < tile.runner_up ? v : tile.runner_up);
      tile.index = lower ? (I{} + Int(k)) : tile.index;
      tile.best = lower ? v : tile.best;
    }
  }
}

// All K centres for R tiles: groups of G, then of 4, 2 and 1 (G <= 8).
template <typename T, int R>
inline void scan_centres(const T* AT, int64_t D, const T* minus_2BT, const T* m, int64_t K,
                         const typename Lanes<T>::V* n, T* S, int64_t cols, int64_t rows, Scan<T>* scan) {
  static_assert(kGroup <= 8, "the remainder groups 4, 2, 1 cover at most 7 centres");
  int64_t k0 = 0;
  for (; k0 + kGroup <= K; k0 += kGroup) scan_group<T, R, kGroup>(AT, D, minus_2BT, m, K, k0, n, S, cols, rows, scan);
  if constexpr (kGroup > 4)
    if (k0 + 4 <= K) scan_group<T, R, 4>(AT, D, minus_2BT, m, K, k0, n, S, cols, rows, scan), k0 += 4;
  if (k0 + 2 <= K) scan_group<T, R, 2>(AT, D, minus_2BT, m, K, k0, n, S, cols, rows, scan), k0 += 2;
  if (k0 < K) scan_group<T, R, 1>(AT, D, minus_2BT, m, K, k0, n, S, cols, rows, scan);
}

// scores: for the rows of x (b, D), with minus_2BT (D, K) = -2 b_k^T and m (K,) = |b_k|^2,
//   d^_ik = (a_i . (-2 b_k) + m_k) + n_i: the expansion (a_i, n_i, 1) . (-2 b_k, 1, m_k),
//   summed in an order the expansion's bound covers,
//   labels[i] = the first index of the minimum of d^_i., nearest[i] that minimum,
//   second[i] the smallest of the other entries, norms[i] = n_i = |a_i|^2,
//   uncertain[i] = !(second > nearest + f n_i + g) || !(n_i < safe)  (NaN included),
// and, if S (K, cols >= b) is not empty, S[k, i] = d^_ik (the soft kinds' scores).
// The product is computed here, not by a GEMM: R L rows at a time (tiles of a_i in the
// lanes of a vector, transposed in the registers), G centres at a time in registers, so
// that the scan reads the scores where the product leaves them; the last rows (fewer
// than R L) a tile at a time.
template <typename T>
void scores_impl(const at::Tensor& x, const at::Tensor& centre, const at::Tensor& minus_2BT, const at::Tensor& m,
                 double f, double g, double safe, at::Tensor& S, at::Tensor& labels, at::Tensor& nearest,
                 at::Tensor& second, at::Tensor& norms, at::Tensor& uncertain) {
  using V = typename Lanes<T>::V;
  constexpr int L = Lanes<T>::L, R = kRowTiles;
  const int64_t b = x.size(0), D = x.size(1), K = minus_2BT.size(1);
  const bool with_scores = S.numel() > 0;
  const int64_t cols = with_scores ? S.size(1) : 0;
  TORCH_CHECK(minus_2BT.size(0) == D && m.numel() == K, "scores: inconsistent shapes");
  TORCH_CHECK(!with_scores || (S.size(0) == K && cols >= b), "scores: S must be (K, >= b)");
  TORCH_CHECK(labels.numel() >= b && nearest.numel() >= b && second.numel() >= b && norms.numel() >= b &&
              uncertain.numel() >= b, "scores: output buffers too small");
  const T* X = x.data_ptr<T>();
  const T* c = centre.data_ptr<T>();
  const T* B = minus_2BT.data_ptr<T>();
  const T* mk = m.data_ptr<T>();
  T* Sp = with_scores ? S.data_ptr<T>() : nullptr;
  int64_t* lab = labels.data_ptr<int64_t>();
  T* near = nearest.data_ptr<T>();
  T* sec = second.data_ptr<T>();
  T* nrm = norms.data_ptr<T>();
  bool* unc = uncertain.data_ptr<bool>();
  const T inf = std::numeric_limits<T>::infinity();
  const T ft = T(f), gt = T(g), st = T(safe);
  std::vector<V> tiles(R * D);  // R tiles AT (D, L), one vector per feature
  T* AT = reinterpret_cast<T*>(tiles.data());
  for (int64_t i0 = 0; i0 < b;) {
    const bool full = b - i0 >= R * L;
    const int count = full ? R : 1;
    const int64_t rows = full ? R * L : std::min<int64_t>(L, b - i0);  // rows of a tile when not full
    V n[R];
    Scan<T> scan[R];
    for (int r = 0; r < count; ++r) {
      const V* a = tiles.data() + r * D;
      centred_tile<T>(X, c, i0 + r * L, full ? L : rows, D, AT + r * D * L);
      n[r] = V{};
      for (int64_t j = 0; j < D; ++j) n[r] += a[j] * a[j];  // summed as squares: exact on small integers
      scan[r] = Scan<T>{inf - V{}, inf - V{}, {}};
    }
    T* Si = with_scores ? Sp + i0 : nullptr;
    if (full)
      scan_centres<T, R>(AT, D, B, mk, K, n, Si, cols, rows, scan);
    else
      scan_centres<T, 1>(AT, D, B, mk, K, n, Si, cols, rows, scan);
    for (int r = 0; r < count; ++r)
      for (int64_t l = 0; l < (full ? L : rows); ++l) {
        const int64_t i = i0 + r * L + l;
        const T best = scan[r].best[l], runner_up = scan[r].runner_up[l], ni = n[r][l];
        nrm[i] = ni;
        lab[i] = scan[r].index[l];
        near[i] = best;
        sec[i] = runner_up;
        unc[i] = !(runner_up > best + ft * ni + gt) || !(ni < st);
      }
    i0 += rows;
  }
}

void scores(const at::Tensor& x, const at::Tensor& centre, const at::Tensor& minus_2BT, const at::Tensor& m, double f,
            double g, double safe, at::Tensor& S, at::Tensor& labels, at::Tensor& nearest, at::Tensor& second,
            at::Tensor& norms, at::Tensor& uncertain) {
  const auto dtype = x.scalar_type();
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble, "scores: x must be float32 or float64");
  for (auto [t, name] : {std::pair{&x, "x"}, {&centre, "centre"}, {&minus_2BT, "minus_2BT"}, {&m, "m"},
                         {&nearest, "nearest"}, {&second, "second"}, {&norms, "norms"}})
    check_cpu(*t, name, dtype);
  check_cpu(labels, "labels", at::kLong);
  check_cpu(uncertain, "uncertain", at::kBool);
  TORCH_CHECK(S.numel() == 0 || (S.device().is_cpu() && S.scalar_type() == dtype && S.stride(1) == 1),
              "scores: S must be empty, or have unit column stride");
  if (dtype == at::kFloat)
    scores_impl<float>(x, centre, minus_2BT, m, f, g, safe, S, labels, nearest, second, norms, uncertain);
  else
    scores_impl<double>(x, centre, minus_2BT, m, f, g, safe, S, labels, nearest, second, norms, uncertain);
}

// one_hot: sums[labels[i]] += float64(x_i - origin), masses[labels[i]] += 1, in row
// order: the bits of streaming's eager path (x - origin in the working dtype, copied to
// float64, index_add_ row by row).
template <typename T>
void one_hot_impl(const at::Tensor& x, const at::Tensor& origin, const at::Tensor& labels, at::Tensor& sums,
                  at::Tensor& masses) {
  const int64_t b = x.size(0), D = x.size(1), K = sums.size(0);
  const T* X = x.data_ptr<T>();
  const T* o = origin.data_ptr<T>();
  const int64_t* lab = labels.data_ptr<int64_t>();
  double* Sm = sums.data_ptr<double>();
  double* M = masses.data_ptr<double>();
  for (int64_t i = 0; i < b; ++i) {
    const int64_t k = lab[i];
    TORCH_CHECK(0 <= k && k < K, "one_hot: label out of range");
    double* sk = Sm + k * D;
    const T* xi = X + i * D;
    for (int64_t j = 0; j < D; ++j) sk[j] += double(T(xi[j] - o[j]));
    M[k] += 1.0;
  }
}

void one_hot(const at::Tensor& x, const at::Tensor& origin, const at::Tensor& labels, at::Tensor& sums,
             at::Tensor& masses) {
  const auto dtype = x.scalar_type();
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble, "one_hot: x must be float32 or float64");
  check_cpu(x, "x", dtype);
  check_cpu(origin, "origin", dtype);
  check_cpu(labels, "labels", at::kLong);
  check_cpu(sums, "sums", at::kDouble);
  check_cpu(masses, "masses", at::kDouble);
  TORCH_CHECK(labels.numel() >= x.size(0) && sums.size(1) == x.size(1) && masses.size(0) == sums.size(0),
              "one_hot: inconsistent shapes");
  if (dtype == at::kFloat)
    one_hot_impl<float>(x, origin, labels, sums, masses);
  else
    one_hot_impl<double>(x, origin, labels, sums, masses);
}

// softmax_sums: for the chunk's b columns of ST (K, cols), d^ with the re-decided rows'
// exact distances (rounded once) in place, and their nearest (b,):
//   w_ki = exp(max(-(ST[k, i] - nearest[i]) / T, floor)), then 0 where <= cut
//     (streaming._softmax's weights: the regret times -1/T rounded to the working dtype,
//     clamped, exp as above),
//   Z[i] = sum_k w_ki, colmax[k] = max_i w_ki,
//   masses[k] = sum_i w_ki / Z_i, sums = sum_i w_.i (x_i - origin)^T / Z_i  (K, D),
// in the working dtype, block by block of columns: the weights of a block (WT, (K, block))
// and its rows (x_i - origin) / Z_i (Yinv, (block, D)) stay in the cache for the block's
// product. Returns the number of nonzero weights.
template <typename T>
int64_t softmax_sums_impl(const at::Tensor& ST, const at::Tensor& nearest, double temperature, double floor,
                          double cut, const at::Tensor& x, const at::Tensor& origin, at::Tensor& WT, at::Tensor& Yinv,
                          at::Tensor& Z, at::Tensor& colmax, at::Tensor& masses, at::Tensor& sums) {
  using V = typename Lanes<T>::V;
  using I = typename Lanes<T>::I;
  constexpr int L = Lanes<T>::L;
  const int64_t b = x.size(0), D = x.size(1), K = ST.size(0), cols = ST.size(1), block = WT.size(1);
  TORCH_CHECK(WT.size(0) == K && cols >= b && Z.numel() >= b && colmax.numel() == K && masses.numel() == K &&
              Yinv.size(0) >= block && Yinv.size(1) == D && nearest.numel() >= b && origin.numel() == D &&
              sums.size(0) == K && sums.size(1) == D, "softmax_sums: inconsistent shapes");
  const T* S = ST.data_ptr<T>();
  T* W = WT.data_ptr<T>();
  const T* near = nearest.data_ptr<T>();
  T* z = Z.data_ptr<T>();
  T* cm = colmax.data_ptr<T>();
  T* mass = masses.data_ptr<T>();
  const T* X = x.data_ptr<T>();
  const T* o = origin.data_ptr<T>();
  T* Y = Yinv.data_ptr<T>();
  const T scale = T(-1.0 / temperature), lowest = T(floor), threshold = T(cut);
  auto weight = [&](T s, T n) {  // one weight, as the vector code computes it
    T lane[L] = {};
    const T u = (s - n) * scale;
    lane[0] = u < lowest ? lowest : u;
    const T w = Exp<T>::apply(load<V>(lane))[0];
    return w > threshold ? w : T(0);
  };
  for (int64_t k = 0; k < K; ++k) cm[k] = mass[k] = T(0);
  sums.zero_();
  std::vector<T> inv(block + L);
  int64_t nonzero = 0;
  for (int64_t s = 0; s < b; s += block) {
    const int64_t r = std::min(block, b - s);
    for (int64_t i = 0; i < r; ++i) z[s + i] = T(0);
    for (int64_t k = 0; k < K; ++k) {
      const T* Sk = S + k * cols + s;
      T* Wk = W + k * block;
      V top = {};
      int64_t i = 0;
      for (; i + L <= r; i += L) {
        V u = (load<V>(Sk + i) - load<V>(near + s + i)) * scale;
        u = u < lowest ? lowest - V{} : u;
        V w = Exp<T>::apply(u);
        w = w > threshold ? w : V{};
        store(Wk + i, w);
        store(z + s + i, load<V>(z + s + i) + w);
        top = w > top ? w : top;
      }
      T largest = cm[k];
      for (int l = 0; l < L; ++l) largest = top[l] > largest ? top[l] : largest;
      for (; i < r; ++i) {
        const T w = weight(Sk[i], near[s + i]);
        Wk[i] = w;
        z[s + i] += w;
        largest = w > largest ? w : largest;
      }
      cm[k] = largest;
    }
    for (int64_t i = 0; i < r; ++i) {
      const T inverse = T(1) / z[s + i];
      inv[i] = inverse;
      const T* xi = X + (s + i) * D;
      for (int64_t j = 0; j < D; ++j) Y[i * D + j] = T(xi[j] - o[j]) * inverse;
    }
    for (int64_t k = 0; k < K; ++k) {
      const T* Wk = W + k * block;
      V acc = {};
      I zeros = {};  // -1 per lane where a weight is 0
      int64_t i = 0;
      for (; i + L <= r; i += L) {
        const V w = load<V>(Wk + i);
        acc += w * load<V>(inv.data() + i);
        zeros += (w == T(0));
      }
      int64_t count = i;
      for (int l = 0; l < L; ++l) count += zeros[l];
      T total = tree_sum<T>(acc);
      for (; i < r; ++i) {
        total += Wk[i] * inv[i];
        count += Wk[i] != T(0);
      }
      mass[k] += total;
      nonzero += count;
    }
    sums.addmm_(WT.narrow(1, 0, r), Yinv.narrow(0, 0, r));
  }
  return nonzero;
}

int64_t softmax_sums(const at::Tensor& ST, const at::Tensor& nearest, double temperature, double floor, double cut,
                     const at::Tensor& x, const at::Tensor& origin, at::Tensor& WT, at::Tensor& Yinv, at::Tensor& Z,
                     at::Tensor& colmax, at::Tensor& masses, at::Tensor& sums) {
  const auto dtype = x.scalar_type();
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble, "softmax_sums: x must be float32 or float64");
  for (auto [t, name] : {std::pair{&nearest, "nearest"}, {&x, "x"}, {&origin, "origin"}, {&WT, "WT"},
                         {&Yinv, "Yinv"}, {&Z, "Z"}, {&colmax, "colmax"}, {&masses, "masses"}, {&sums, "sums"}})
    check_cpu(*t, name, dtype);
  TORCH_CHECK(ST.device().is_cpu() && ST.scalar_type() == dtype && ST.stride(1) == 1, "softmax_sums: ST layout");
  if (dtype == at::kFloat)
    return softmax_sums_impl<float>(ST, nearest, temperature, floor, cut, x, origin, WT, Yinv, Z, colmax, masses, sums);
  return softmax_sums_impl<double>(ST, nearest, temperature, floor, cut, x, origin, WT, Yinv, Z, colmax, masses, sums);
}

// entmax15_sums: for the chunk's b columns of ST (K, cols), d^ with the re-decided rows'
// exact distances (rounded once) in place, their nearest and runner-up (b,):
//   v_k = (ST[k, i] - nearest_i) (-1/(2T))  (u = z/2, row maximum 0),
//   tau_i: Newton steps from the root of the two largest entries (streaming._entmax15),
//     then the exact solve on S = {v > tau}, accepted iff {v > tau_S} = S
//     (torch._solve_threshold's arithmetic),
//   apart_i (in and out): rows the caller decides (the re-decided ones on entry; on
//     return also those not converged or with an entry within slack_i = slack_a n_i +
//     slack_b of tau (streaming._support_slack)): their weights are left out here,
//   p_ki = [v_k - tau_i]_+^2 of the others, masses[k] = sum_i p_ki, sums = sum_i p_.i
//     (x_i - origin)^T (K, D) in the working dtype, the block's product in the cache,
// L rows at a time, every pass over the centres on a few kilobytes in the L1 cache.
// Returns (with_energy: the sum over the rows not apart of 2 (tau + 1) + (2/3)(sum_k t^3
// - 1), t = [v - tau]_+, in float64, the free energy being sum_i d_i(1) - T times it;
// else 0; and the number of those rows that are exactly one-hot (tau = -1, one entry)).
template <typename T>
std::tuple<double, int64_t> entmax15_sums_impl(const at::Tensor& ST, const at::Tensor& nearest, const at::Tensor& second,
                                               const at::Tensor& norms, double temperature, double slack_a,
                                               double slack_b, int64_t newton_steps, bool with_energy,
                                               const at::Tensor& x,
                                               const at::Tensor& origin, at::Tensor& PT, at::Tensor& Yblock,
                                               at::Tensor& apart, at::Tensor& masses, at::Tensor& sums) {
  using V = typename Lanes<T>::V;
  using I = typename Lanes<T>::I;
  using VD = typename Lanes<T>::VD;
  constexpr int L = Lanes<T>::L;
  // PT is (K, >= block + L): the last group of a block writes whole vectors.
  const int64_t b = x.size(0), D = x.size(1), K = ST.size(0), cols = ST.size(1), block = Yblock.size(0);
  TORCH_CHECK(block >= 1 && PT.size(0) == K && PT.size(1) >= block + L && cols >= b && masses.numel() == K &&
              Yblock.size(1) == D && nearest.numel() >= b && second.numel() >= b && norms.numel() >= b &&
              apart.numel() >= b && origin.numel() == D && sums.size(0) == K && sums.size(1) == D,
              "entmax15_sums: inconsistent shapes");
  const T* S = ST.data_ptr<T>();
  T* P = PT.data_ptr<T>();
  const int64_t pitch = PT.size(1);  // PT's row stride
  const T* near = nearest.data_ptr<T>();
  const T* sec = second.data_ptr<T>();
  const T* nrm = norms.data_ptr<T>();
  bool* out = apart.data_ptr<bool>();
  T* mass = masses.data_ptr<T>();
  const T* X = x.data_ptr<T>();
  const T* o = origin.data_ptr<T>();
  T* Y = Yblock.data_ptr<T>();
  const T scale = T(-0.5 / temperature), sa = T(slack_a), sb = T(slack_b);
  const T Kt = T(K);
  for (int64_t k = 0; k < K; ++k) mass[k] = T(0);
  sums.zero_();
  std::vector<V> column_mass(K), group(K), vbuf(K);
  double energy = 0.0;
  int64_t one_hot = 0;
  // One group of L rows: columns [i, i + L) of S (padded lanes read `pad`, a copy).
  std::vector<T> pad(K * L);
  for (int64_t s = 0; s < b; s += block) {
    const int64_t r = std::min(block, b - s);
    for (int64_t k = 0; k < K; ++k) column_mass[k] = V{};
    for (int64_t i = 0; i < r; i += L) {
      const int64_t lanes = std::min<int64_t>(L, r - i);
      const T* base = S + s + i;
      int64_t stride = cols;
      T n_[L], sec_[L], norm_[L];
      bool in_[L];
      for (int l = 0; l < L; ++l) {
        const int64_t row = s + i + std::min<int64_t>(l, lanes - 1);  // padded lanes repeat the last row
        n_[l] = near[row];
        sec_[l] = sec[row];
        norm_[l] = nrm[row];
        in_[l] = out[row];
      }
      if (lanes < L) {
        for (int64_t k = 0; k < K; ++k)
          for (int l = 0; l < L; ++l) pad[k * L + l] = S[k * cols + s + i + std::min<int64_t>(l, lanes - 1)];
        base = pad.data();
        stride = L;
      }
      const V nv = load<V>(n_);
      // the root of the two largest entries: a lower bound of tau (-1 below w = -1)
      const V w = (load<V>(sec_) - nv) * scale;
      V tau;
      for (int l = 0; l < L; ++l) {
        const T wl = w[l];
        const T q = T(2) - wl * wl;
        tau[l] = wl > T(-1) ? (wl - std::sqrt(q > T(0) ? q : T(0))) / T(2) : T(-1);
      }
      // v (K vectors) into the L1 buffer, with the first Newton step's moments
      for (int64_t step = 0; step < std::max<int64_t>(newton_steps, 1); ++step) {
        V total = {}, squares = {};
        for (int64_t k = 0; k < K; ++k) {
          V v;
          if (step == 0) {
            v = (load<V>(base + k * stride) - nv) * scale;
            vbuf[k] = v;
          } else {
            v = vbuf[k];
          }
          const V t = v > tau ? v : tau;
          total += t;
          squares += t * t;
        }
        if (step < newton_steps) {
          const V m = total - Kt * tau;
          const V q = (squares - T(2) * tau * total) + Kt * tau * tau;
          tau = tau + (q - T(1)) / (T(2) * m);
        }
      }
      V m = {}, q = {}, size = {};
      for (int64_t k = 0; k < K; ++k) {
        V t = vbuf[k] - tau;
        t = t > T(0) ? t : V{};
        m += t;
        q += t * t;
        size += t > T(0) ? T(1) - V{} : V{};
      }
      const V mean = m / size;
      const V variance = q / size - mean * mean;
      const V delta = (T(1) - size * variance) / size;
      V root;
      for (int l = 0; l < L; ++l) root[l] = std::sqrt(delta[l] > T(0) ? delta[l] : T(0));
      tau = (mean + tau) - root;
      tau = tau < T(-1) ? T(-1) - V{} : tau;
      // the check, the weights and their cubes in one pass; lanes not kept undone after
      V close = std::numeric_limits<T>::infinity() - V{}, count = {};
      VD cubes = {};
      for (int64_t k = 0; k < K; ++k) {
        const V d = vbuf[k] - tau;
        const V a = d < T(0) ? -d : d;
        close = a < close ? a : close;
        const V t = d > T(0) ? d : V{};
        count += d > T(0) ? T(1) - V{} : V{};
        const V p = t * t;
        store(P + k * pitch + i, p);  // (padded lanes land in the L spare columns)
        group[k] = p;
        if (with_energy) cubes += __builtin_convertvector(p * t, VD);
      }
      I keep;  // lanes whose weights are decided here
      bool all_kept = true;
      for (int l = 0; l < L; ++l) {
        const bool converged = count[l] == size[l];
        const bool near_threshold = !(close[l] > sa * norm_[l] + sb);
        const bool decided = l < lanes && !in_[l] && converged && !near_threshold;
        keep[l] = decided ? -1 : 0;
        all_kept = all_kept && decided;
        if (l < lanes) out[s + i + l] = !decided;
      }
      if (all_kept) {
        for (int64_t k = 0; k < K; ++k) column_mass[k] += group[k];
      } else {
        for (int64_t k = 0; k < K; ++k) {
          column_mass[k] += keep ? group[k] : V{};
          for (int l = 0; l < L; ++l)
            if (!keep[l]) P[k * pitch + i + l] = T(0);
        }
      }
      for (int l = 0; l < lanes; ++l) {
        if (!keep[l]) continue;
        if (with_energy) energy += 2.0 * (double(tau[l]) + 1.0) + (2.0 / 3.0) * (cubes[l] - 1.0);
        one_hot += tau[l] == T(-1) && count[l] == T(1);
      }
    }
    for (int64_t k = 0; k < K; ++k) mass[k] += tree_sum<T>(column_mass[k]);
    for (int64_t i = 0; i < r; ++i) {
      const T* xi = X + (s + i) * D;
      for (int64_t j = 0; j < D; ++j) Y[i * D + j] = T(xi[j] - o[j]);
    }
    sums.addmm_(PT.narrow(1, 0, r), Yblock.narrow(0, 0, r));
  }
  return {energy, one_hot};
}

std::tuple<double, int64_t> entmax15_sums(const at::Tensor& ST, const at::Tensor& nearest, const at::Tensor& second,
                                          const at::Tensor& norms, double temperature, double slack_a, double slack_b,
                                          int64_t newton_steps, bool with_energy, const at::Tensor& x,
                                          const at::Tensor& origin,
                                          at::Tensor& PT, at::Tensor& Yblock, at::Tensor& apart, at::Tensor& masses,
                                          at::Tensor& sums) {
  const auto dtype = x.scalar_type();
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble, "entmax15_sums: x must be float32 or float64");
  for (auto [t, name] : {std::pair{&nearest, "nearest"}, {&second, "second"}, {&norms, "norms"}, {&x, "x"},
                         {&origin, "origin"}, {&PT, "PT"}, {&Yblock, "Yblock"}, {&masses, "masses"}, {&sums, "sums"}})
    check_cpu(*t, name, dtype);
  check_cpu(apart, "apart", at::kBool);
  TORCH_CHECK(ST.device().is_cpu() && ST.scalar_type() == dtype && ST.stride(1) == 1, "entmax15_sums: ST layout");
  if (dtype == at::kFloat)
    return entmax15_sums_impl<float>(ST, nearest, second, norms, temperature, slack_a, slack_b, newton_steps, with_energy,
                                     x, origin, PT, Yblock, apart, masses, sums);
  return entmax15_sums_impl<double>(ST, nearest, second, norms, temperature, slack_a, slack_b, newton_steps, with_energy,
                                    x, origin, PT, Yblock, apart, masses, sums);
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  // The GIL is released: streaming's worker threads run chunks concurrently.
  m.def("scores", &scores, py::call_guard<py::gil_scoped_release>());
  m.def("one_hot", &one_hot, py::call_guard<py::gil_scoped_release>());
  m.def("softmax_sums", &softmax_sums, py::call_guard<py::gil_scoped_release>());
  m.def("entmax15_sums", &entmax15_sums, py::call_guard<py::gil_scoped_release>());
  m.def("exp_nonpositive", &exp_nonpositive, py::call_guard<py::gil_scoped_release>());
}
