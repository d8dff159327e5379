// Fused CPU chunk kernels of kmeans_rbf.streaming, built on first use by kmeans_rbf.fused.
//
// The maths and the certification are streaming's (its module docstring); this file only
// fuses them: a block of rows is centred, multiplied by the centres (one GEMM, torch's),
// and scanned while it is in the cache, in the transposed layout (K, rows), where the
// running minimum over the centres is a vertical operation on whole vectors of rows.
// Compiled with -ffp-contract=off: every rounding is the one written here.

#include <torch/extension.h>

#include <algorithm>
#include <cstring>
#include <limits>

namespace {

// 64-byte vectors (an AVX-512 register; two AVX2 ones, or four SSE ones, elsewhere).
template <typename T> struct Lanes;
template <> struct Lanes<float> {
  static constexpr int L = 16;
  typedef float V __attribute__((vector_size(64)));
  typedef int32_t I __attribute__((vector_size(64)));
};
template <> struct Lanes<double> {
  static constexpr int L = 8;
  typedef double V __attribute__((vector_size(64)));
  typedef int64_t I __attribute__((vector_size(64)));
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

void check_cpu(const at::Tensor& t, const char* name, at::ScalarType dtype) {
  TORCH_CHECK(t.device().is_cpu(), name, " must be on the CPU");
  TORCH_CHECK(t.scalar_type() == dtype, name, " has dtype ", t.scalar_type(), ", expected ", dtype);
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

// Centre rows [s, s + r) of x into the block A (a_i = x_i - c) and n_i = |a_i|^2 into n.
template <typename T>
void centre_rows(const T* X, const T* c, int64_t s, int64_t r, int64_t D, T* A, T* n) {
  using V = typename Lanes<T>::V;
  constexpr int L = Lanes<T>::L;
  for (int64_t i = 0; i < r; ++i) {
    const T* xi = X + (s + i) * D;
    T* ai = A + i * D;
    V acc = {};
    int64_t j = 0;
    for (; j + L <= D; j += L) {
      V v = load<V>(xi + j) - load<V>(c + j);
      store(ai + j, v);
      acc += v * v;
    }
    T norm = tree_sum<T>(acc);
    for (; j < D; ++j) {
      T v = xi[j] - c[j];
      ai[j] = v;
      norm += v * v;
    }
    n[s + i] = norm;
  }
}

// scores: for the rows of x (b, D), with minus_2B (K, D) = -2 b_k and m (K,) = |b_k|^2,
//   S[:, i] = minus_2B a_i + m  (one GEMM), d^_ik = S[k, i] + n_i: the expansion
//   (a_i, n_i, 1) . (-2 b_k, 1, m_k), its sum in an order the expansion's bound covers,
//   labels[i] = the first index of the minimum of d^_i., nearest[i] that minimum,
//   second[i] the smallest of the other entries, norms[i] = n_i,
//   uncertain[i] = !(second > nearest + f n_i + g) || !(n_i < safe)  (NaN included).
// S is (K, cols): cols >= b holds the whole chunk (column i for row i, d^ itself);
// otherwise a block buffer of cols >= A.size(0) columns, overwritten block by block.
template <typename T>
void scores_impl(const at::Tensor& x, const at::Tensor& centre, const at::Tensor& minus_2B, const at::Tensor& m,
                 double f, double g, double safe, at::Tensor& Ablock, at::Tensor& S, at::Tensor& labels,
                 at::Tensor& nearest, at::Tensor& second, at::Tensor& norms, at::Tensor& uncertain) {
  using V = typename Lanes<T>::V;
  using I = typename Lanes<T>::I;
  using Int = decltype(I{}[0] + 0);
  constexpr int L = Lanes<T>::L;
  const int64_t b = x.size(0), D = x.size(1), K = minus_2B.size(0), block = Ablock.size(0), cols = S.size(1);
  TORCH_CHECK(minus_2B.size(1) == D && Ablock.size(1) == D && S.size(0) == K && m.numel() == K,
              "scores: inconsistent shapes");
  TORCH_CHECK(cols >= b || cols >= block, "scores: S has too few columns");
  TORCH_CHECK(labels.numel() >= b && nearest.numel() >= b && second.numel() >= b && norms.numel() >= b &&
              uncertain.numel() >= b, "scores: output buffers too small");
  const bool whole = cols >= b;
  const T* X = x.data_ptr<T>();
  const T* c = centre.data_ptr<T>();
  const T* mk = m.data_ptr<T>();
  T* A = Ablock.data_ptr<T>();
  T* Sp = S.data_ptr<T>();
  int64_t* lab = labels.data_ptr<int64_t>();
  T* near = nearest.data_ptr<T>();
  T* sec = second.data_ptr<T>();
  T* nrm = norms.data_ptr<T>();
  bool* unc = uncertain.data_ptr<bool>();
  const T inf = std::numeric_limits<T>::infinity();
  const T ft = T(f), gt = T(g), st = T(safe);
  for (int64_t s = 0; s < b; s += block) {
    const int64_t r = std::min(block, b - s);
    centre_rows<T>(X, c, s, r, D, A, nrm);
    const int64_t offset = whole ? s : 0;
    at::Tensor block_scores = S.narrow(1, offset, r);
    at::mm_out(block_scores, minus_2B, Ablock.narrow(0, 0, r).t());
    T* Sb = Sp + offset;
    const T* n = nrm + s;
    auto finish = [&](int64_t i, T best, T runner_up, int64_t index) {
      lab[s + i] = index;
      near[s + i] = best;
      sec[s + i] = runner_up;
      unc[s + i] = !(runner_up > best + ft * n[i] + gt) || !(n[i] < st);
    };
    int64_t i = 0;
    for (; i + L <= r; i += L) {  // L rows at once: a vertical scan over the centres
      const V ni = load<V>(n + i);
      V best = inf - V{}, runner_up = best;
      I index = {};
      for (int64_t k = 0; k < K; ++k) {
        const V v = (load<V>(Sb + k * cols + i) + mk[k]) + ni;
        if (whole) store(Sb + k * cols + i, v);
        const I lower = v < best;  // strict: the first minimum is kept
        runner_up = lower ? best : (v < runner_up ? v : runner_up);
        index = lower ? (I{} + Int(k)) : index;
        best = lower ? v : best;
      }
      for (int l = 0; l < L; ++l) finish(i + l, best[l], runner_up[l], index[l]);
    }
    for (; i < r; ++i) {
      T best = inf, runner_up = inf;
      int64_t index = 0;
      for (int64_t k = 0; k < K; ++k) {
        const T v = (Sb[k * cols + i] + mk[k]) + n[i];
        if (whole) Sb[k * cols + i] = v;
        if (v < best) {
          runner_up = best;
          best = v;
          index = k;
        } else if (v < runner_up) {
          runner_up = v;
        }
      }
      finish(i, best, runner_up, index);
    }
  }
}

void scores(const at::Tensor& x, const at::Tensor& centre, const at::Tensor& minus_2B, const at::Tensor& m, double f,
            double g, double safe, at::Tensor& Ablock, at::Tensor& S, at::Tensor& labels, at::Tensor& nearest,
            at::Tensor& second, at::Tensor& norms, at::Tensor& uncertain) {
  const auto dtype = x.scalar_type();
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble, "scores: x must be float32 or float64");
  for (auto [t, name] : {std::pair{&x, "x"}, {&centre, "centre"}, {&minus_2B, "minus_2B"}, {&m, "m"},
                         {&Ablock, "Ablock"}, {&nearest, "nearest"}, {&second, "second"}, {&norms, "norms"}})
    check_cpu(*t, name, dtype);
  check_cpu(labels, "labels", at::kLong);
  check_cpu(uncertain, "uncertain", at::kBool);
  TORCH_CHECK(S.device().is_cpu() && S.scalar_type() == dtype && S.stride(1) == 1, "scores: S must have unit column stride");
  if (dtype == at::kFloat)
    scores_impl<float>(x, centre, minus_2B, m, f, g, safe, Ablock, S, labels, nearest, second, norms, uncertain);
  else
    scores_impl<double>(x, centre, minus_2B, m, f, g, safe, Ablock, S, labels, nearest, second, norms, uncertain);
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

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  // The GIL is released: streaming's worker threads run chunks concurrently.
  m.def("scores", &scores, py::call_guard<py::gil_scoped_release>());
  m.def("one_hot", &one_hot, py::call_guard<py::gil_scoped_release>());
}
