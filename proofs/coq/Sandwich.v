(** * The sandwich J - T H_max <= F_T <= J <= L_T <= J + T H_max (claim [sandwich]), the
    softmax excess bound (claim [softmax-excess-bound]) and the sharp uniform constants
    (claim [uniform-rate]).

    F_T is [Base.F]: (1/N) sum_i of the greatest lower bound of {p . d_i - T H(p) : p in the
    simplex}, the registry's variational definition. [free_point_closed_form] shows that the
    bound is attained at the map's output r = map(-d/T), so F_T is that minimum; for softmax
    it is also -T log sum_k exp(-d_k/T) ([free_point_softmax]). *)

From Coq Require Import Reals Lra Lia.
From Coquelicot Require Import Coquelicot.
From KmeansRBF Require Import Base.
Open Scope R_scope.

(** ** Elementary inequalities. *)

Lemma exp_ineq_strict x : x <> 0 -> 1 + x < exp x.
Proof. apply exp_ineq1. Qed.

(** ln y <= y - 1, strictly unless y = 1. *)
Lemma ln_le_minus_one y : 0 < y -> ln y <= y - 1.
Proof. intros Hy. pose proof (exp_ineq1_le (ln y)). rewrite exp_ln in H by exact Hy. lra. Qed.

Lemma ln_lt_minus_one y : 0 < y -> y <> 1 -> ln y < y - 1.
Proof.
  intros Hy H1. assert (ln y <> 0) as Hl.
  { intros H0. apply H1. rewrite <- (exp_ln y Hy), H0. apply exp_0. }
  pose proof (exp_ineq_strict (ln y) Hl). rewrite exp_ln in H by exact Hy. lra.
Qed.

(** Gibbs, per term: p log p - p log q >= p - q for p >= 0, q > 0, strictly unless p = q. *)
Lemma gibbs_term p q : 0 <= p -> 0 < q -> p - q <= p * ln p - p * ln q.
Proof.
  intros Hp Hq. destruct (Req_EM_T p 0) as [->|Hp0]; [lra|].
  assert (0 < p) by lra. pose proof (ln_le_minus_one (q / p) ltac:(apply Rdiv_lt_0_compat; lra)).
  rewrite ln_div in H0 by lra.
  assert (p * (ln q - ln p) <= p * (q / p - 1)) by (apply Rmult_le_compat_l; lra).
  replace (p * (q / p - 1)) with (q - p) in H1 by (field; lra). lra.
Qed.

Lemma gibbs_term_strict p q : 0 <= p -> 0 < q -> p <> q -> p - q < p * ln p - p * ln q.
Proof.
  intros Hp Hq Hne. destruct (Req_EM_T p 0) as [->|Hp0]; [lra|].
  assert (0 < p) by lra.
  assert (q / p <> 1) by (intros E; apply Hne; assert (q = p * (q / p)) as Eq by (field; lra);
    rewrite E in Eq; lra).
  pose proof (ln_lt_minus_one (q / p) ltac:(apply Rdiv_lt_0_compat; lra) H0).
  rewrite ln_div in H1 by lra.
  assert (p * (ln q - ln p) < p * (q / p - 1)) by (apply Rmult_lt_compat_l; lra).
  replace (p * (q / p - 1)) with (q - p) in H2 by (field; lra). lra.
Qed.

(** The tangent-line inequality behind the Tsallis bounds:
    s^3 >= v^3 + (3/2) v (s^2 - v^2) for s, v >= 0, i.e. (s - v)^2 (s + v/2) >= 0. *)
Lemma cube_tangent s v : 0 <= s -> 0 <= v -> v ^ 3 + 3 / 2 * v * (s ^ 2 - v ^ 2) <= s ^ 3.
Proof.
  intros Hs Hv. assert (0 <= (s - v) ^ 2 * (s + v / 2)) by (apply Rmult_le_pos; [apply pow2_ge_0|lra]).
  assert (s ^ 3 - (v ^ 3 + 3 / 2 * v * (s ^ 2 - v ^ 2)) = (s - v) ^ 2 * (s + v / 2)) by field. lra.
Qed.

Lemma cube_tangent_eq s v : 0 <= s -> 0 < v -> v ^ 3 + 3 / 2 * v * (s ^ 2 - v ^ 2) = s ^ 3 -> s = v.
Proof.
  intros Hs Hv H.
  assert (s ^ 3 - (v ^ 3 + 3 / 2 * v * (s ^ 2 - v ^ 2)) = (s - v) ^ 2 * (s + v / 2)) by field.
  assert ((s - v) ^ 2 * (s + v / 2) = 0) by lra.
  apply Rmult_integral in H1. destruct H1 as [H1|H1]; [|lra].
  destruct (Req_EM_T s v) as [|Hne]; [assumption|]. exfalso. apply (pow_nonzero (s - v) 2); [lra|exact H1].
Qed.

(** p^(3/2) as (sqrt p)^3. *)
Lemma p_sqrt_p p : 0 <= p -> p * sqrt p = sqrt p ^ 3.
Proof. intros Hp. rewrite <- (sqrt_sqrt p Hp) at 1. ring. Qed.

(** ** The value of the variational problem. *)

(** g(p) = p . d - T H(p), the function minimised over the simplex. *)
Definition gval (kd : kind) (T : R) (K : nat) (d p : nat -> R) : R :=
  sumf K (fun k => p k * d k) - T * entropy kd K p.

Lemma free_point_eq kd T K d r :
  simplex K r -> (forall p, simplex K p -> gval kd T K d r <= gval kd T K d p) ->
  free_point kd T K d = gval kd T K d r.
Proof.
  intros Hr Hmin. unfold free_point.
  rewrite (is_glb_Rbar_unique _ (Finite (gval kd T K d r))); [reflexivity|]. split.
  - intros v [p [Hp ->]]. simpl. apply Hmin, Hp.
  - intros b Hb. apply Hb. exists r. split; [exact Hr|reflexivity].
Qed.

Lemma free_point_le kd T K d p r :
  simplex K r -> (forall q, simplex K q -> gval kd T K d r <= gval kd T K d q) ->
  simplex K p -> free_point kd T K d <= gval kd T K d p.
Proof. intros Hr Hmin Hp. rewrite (free_point_eq kd T K d r Hr Hmin). apply Hmin, Hp. Qed.

(** ** The maps lie in the simplex. *)

Lemma softmax_sum_pos K z : (0 < K)%nat -> 0 < sumf K (fun l => exp (z l)).
Proof.
  intros HK. apply Rlt_le_trans with (exp (z O)); [apply exp_pos|].
  apply (sumf_term_le K (fun l => exp (z l))); [intros; left; apply exp_pos|exact HK].
Qed.

Lemma softmax_pos K z k : (0 < K)%nat -> 0 < softmax K z k.
Proof. intros HK. unfold softmax. apply Rdiv_lt_0_compat; [apply exp_pos|apply softmax_sum_pos, HK]. Qed.

Lemma softmax_simplex K z : (0 < K)%nat -> simplex K (softmax K z).
Proof.
  intros HK. split; [intros; left; apply softmax_pos, HK|].
  unfold softmax. unfold Rdiv. rewrite sumf_scal_r. field.
  apply Rgt_not_eq, softmax_sum_pos, HK.
Qed.

Lemma entmax_simplex K z : (0 < K)%nat -> simplex K (entmax K z).
Proof. intros HK. split; [intros; apply entmax_nonneg|apply entmax_sum, HK]. Qed.

Lemma rmap_simplex kd K z : (0 < K)%nat -> simplex K (rmap kd K z).
Proof. destruct kd; [apply softmax_simplex|apply entmax_simplex]. Qed.

(** ** Minimality: Gibbs' inequality (softmax) and the Tsallis-1.5 KKT inequality (entmax). *)

Lemma ln_softmax K z k : (0 < K)%nat -> ln (softmax K z k) = z k - ln (sumf K (fun l => exp (z l))).
Proof.
  intros HK. unfold softmax. rewrite ln_div; [rewrite ln_exp; reflexivity|apply exp_pos|].
  apply softmax_sum_pos, HK.
Qed.

(** The softmax value: g(softmax(-d/T)) = -T log sum_k exp(-d_k/T). *)
Lemma gval_softmax T K d : (0 < K)%nat -> 0 < T ->
  gval Softmax T K d (softmax K (fun l => - d l / T)) =
  - T * ln (sumf K (fun l => exp (- d l / T))).
Proof.
  intros HK HT. unfold gval, entropy, shannon.
  set (Z := sumf K (fun l => exp (- d l / T))).
  rewrite (sumf_ext K (fun k => softmax K (fun l => - d l / T) k * ln (softmax K (fun l => - d l / T) k))
    (fun k => softmax K (fun l => - d l / T) k * (- d k / T) - softmax K (fun l => - d l / T) k * ln Z))
    by (intros k _; rewrite ln_softmax by exact HK; fold Z; ring).
  rewrite sumf_minus, sumf_scal_r.
  destruct (softmax_simplex K (fun l => - d l / T) HK) as [_ Hs]. rewrite Hs.
  rewrite (sumf_ext K (fun k => softmax K (fun l => - d l / T) k * (- d k / T))
    (fun k => (- / T) * (softmax K (fun l => - d l / T) k * d k))) by (intros; field; lra).
  rewrite sumf_scal. field. lra.
Qed.

Lemma gval_softmax_min T K d p : (0 < K)%nat -> 0 < T -> simplex K p ->
  gval Softmax T K d (softmax K (fun l => - d l / T)) <= gval Softmax T K d p.
Proof.
  intros HK HT [Hp Hs]. rewrite gval_softmax by assumption.
  set (z := fun l => - d l / T). set (Z := sumf K (fun l => exp (z l))).
  set (r := softmax K z).
  assert (Hg : sumf K (fun k => p k - r k) <=
               sumf K (fun k => p k * ln (p k) - p k * ln (r k))).
  { apply sumf_le. intros k Hk. apply gibbs_term; [apply Hp, Hk|apply softmax_pos, HK]. }
  rewrite !sumf_minus in Hg. rewrite Hs in Hg.
  destruct (softmax_simplex K z HK) as [_ Hr]. fold r in Hr. rewrite Hr in Hg.
  rewrite (sumf_ext K (fun k => p k * ln (r k)) (fun k => (- / T) * (p k * d k) - p k * ln Z))
    in Hg by (intros k Hk; unfold r; rewrite ln_softmax by exact HK; fold Z; unfold z; field; lra).
  rewrite sumf_minus, sumf_scal, sumf_scal_r, Hs in Hg.
  unfold gval, entropy, shannon. change (sumf K (fun l => exp (- d l / T))) with Z.
  assert (T * (0 - 0) <= T * (sumf K (fun k => p k * ln (p k)) -
    (- / T * sumf K (fun k => p k * d k) - 1 * ln Z))) by (apply Rmult_le_compat_l; lra).
  replace (T * (sumf K (fun k => p k * ln (p k)) - (- / T * sumf K (fun k => p k * d k) - 1 * ln Z)))
    with (T * sumf K (fun k => p k * ln (p k)) + sumf K (fun k => p k * d k) + T * ln Z) in H
    by (field; lra).
  lra.
Qed.

(** Entmax-1.5: with u = z/2, rho_k = [u_k - tau]_+ (so r_k = rho_k^2), for every p in the
    simplex, s_k = sqrt p_k:
    -2 u p + (4/3) s^3 >= -2 u r + (4/3) rho^3 - 2 tau (p - r)   (per term). *)
Lemma tsallis_term u t p : 0 <= p ->
  - 2 * u * pos (u - t) ^ 2 + 4 / 3 * pos (u - t) ^ 3 - 2 * t * (p - pos (u - t) ^ 2)
  <= - 2 * u * p + 4 / 3 * sqrt p ^ 3.
Proof.
  intros Hp. pose proof (sqrt_pos p) as Hs. pose proof (sqrt_sqrt p Hp) as Hss.
  set (s := sqrt p) in *. replace p with (s ^ 2) by (simpl; lra).
  destruct (Rle_dec 0 (u - t)) as [H|H].
  - rewrite pos_of_nonneg by exact H.
    assert (0 <= (s - (u - t)) ^ 2 * (2 * s + (u - t))) by (apply Rmult_le_pos; [apply pow2_ge_0|lra]).
    assert (- 2 * u * (s ^ 2) + 4 / 3 * s ^ 3 - (- 2 * u * (u - t) ^ 2 + 4 / 3 * (u - t) ^ 3
      - 2 * t * (s ^ 2 - (u - t) ^ 2)) = 2 / 3 * ((s - (u - t)) ^ 2 * (2 * s + (u - t)))) by field.
    lra.
  - rewrite pos_of_nonpos by lra.
    assert (0 <= s ^ 2 * (4 / 3 * s + 2 * (t - u))) by (apply Rmult_le_pos; [apply pow2_ge_0|lra]).
    assert (- 2 * u * (s ^ 2) + 4 / 3 * s ^ 3 - (- 2 * u * 0 ^ 2 + 4 / 3 * 0 ^ 3
      - 2 * t * (s ^ 2 - 0 ^ 2)) = s ^ 2 * (4 / 3 * s + 2 * (t - u))) by field.
    lra.
Qed.

(** g for the Tsallis entropy, in terms of u = -d/(2T) and s = sqrt p. *)
Lemma gval_tsallis T K d p : 0 < T -> (forall k, (k < K)%nat -> 0 <= p k) ->
  gval Entmax15 T K d p =
  T * sumf K (fun k => - 2 * (- d k / T / 2) * p k + 4 / 3 * sqrt (p k) ^ 3) - 4 / 3 * T.
Proof.
  intros HT Hp. unfold gval, entropy, tsallis.
  replace (sumf K (fun k => p k * d k) - T * (4 / 3 * (1 - sumf K (fun k => p k * sqrt (p k)))))
    with (sumf K (fun k => p k * d k) + 4 / 3 * T * sumf K (fun k => p k * sqrt (p k)) - 4 / 3 * T)
    by ring.
  rewrite <- !sumf_scal, <- sumf_plus. f_equal. apply sumf_ext. intros k Hk.
  rewrite p_sqrt_p by (apply Hp, Hk). field. lra.
Qed.

Lemma gval_entmax_min T K d p : (0 < K)%nat -> 0 < T -> simplex K p ->
  gval Entmax15 T K d (entmax K (fun l => - d l / T)) <= gval Entmax15 T K d p.
Proof.
  intros HK HT [Hp Hs].
  set (r := entmax K (fun l => - d l / T)).
  set (u := fun l => (- d l / T) / 2). set (t := tau K u).
  assert (Hr : forall k, r k = pos (u k - t) ^ 2) by reflexivity.
  assert (Hsum : sumf K r = 1) by apply entmax_sum, HK.
  rewrite !gval_tsallis by (try assumption; intros; apply entmax_nonneg).
  assert (H : sumf K (fun k => - 2 * u k * pos (u k - t) ^ 2 + 4 / 3 * pos (u k - t) ^ 3
                               - 2 * t * (p k - pos (u k - t) ^ 2))
              <= sumf K (fun k => - 2 * u k * p k + 4 / 3 * sqrt (p k) ^ 3)).
  { apply sumf_le. intros k Hk. apply tsallis_term, Hp, Hk. }
  rewrite sumf_minus, sumf_scal, sumf_minus, Hs in H.
  rewrite (sumf_ext K (fun k => pos (u k - t) ^ 2) r) in H by (intros; rewrite Hr; reflexivity).
  rewrite Hsum in H.
  rewrite (sumf_ext K (fun k => - 2 * (- d k / T / 2) * r k + 4 / 3 * sqrt (r k) ^ 3)
     (fun k => - 2 * u k * pos (u k - t) ^ 2 + 4 / 3 * pos (u k - t) ^ 3))
    by (intros k Hk; rewrite Hr, sqrt_pow2 by apply pos_nonneg; reflexivity).
  change (fun k => - 2 * (- d k / T / 2) * p k + 4 / 3 * sqrt (p k) ^ 3)
    with (fun k => - 2 * u k * p k + 4 / 3 * sqrt (p k) ^ 3).
  apply Rplus_le_compat_r. apply Rmult_le_compat_l; lra.
Qed.

Lemma gval_rmap_min kd T K d p : (0 < K)%nat -> 0 < T -> simplex K p ->
  gval kd T K d (rmap kd K (fun l => - d l / T)) <= gval kd T K d p.
Proof. destruct kd; [apply gval_softmax_min|apply gval_entmax_min]. Qed.

(** The minimum over the simplex is attained at the map's output: F_T per point. *)
Theorem free_point_closed_form kd T K d : (0 < K)%nat -> 0 < T ->
  free_point kd T K d = gval kd T K d (rmap kd K (fun l => - d l / T)).
Proof.
  intros HK HT. apply free_point_eq; [apply rmap_simplex, HK|].
  intros p Hp. apply gval_rmap_min; assumption.
Qed.

Theorem free_point_is_minimum kd T K d p : (0 < K)%nat -> 0 < T -> simplex K p ->
  free_point kd T K d <= gval kd T K d p.
Proof.
  intros HK HT Hp. rewrite free_point_closed_form by assumption. apply gval_rmap_min; assumption.
Qed.

Theorem free_point_softmax T K d : (0 < K)%nat -> 0 < T ->
  free_point Softmax T K d = - T * ln (sumf K (fun l => exp (- d l / T))).
Proof. intros HK HT. rewrite free_point_closed_form by assumption. apply gval_softmax; assumption. Qed.

(** ** The entropies on the simplex: 0 <= H <= H_max, with H = H_max only at the uniform point. *)

Lemma simplex_le_one K p k : simplex K p -> (k < K)%nat -> p k <= 1.
Proof. intros [Hp Hs] Hk. rewrite <- Hs. apply sumf_term_le; assumption. Qed.

Lemma INR_pos K : (0 < K)%nat -> 0 < INR K.
Proof. intros HK. apply lt_0_INR, HK. Qed.

Lemma shannon_nonneg K p : simplex K p -> 0 <= shannon K p.
Proof.
  intros Hp. unfold shannon. assert (sumf K (fun k => p k * ln (p k)) <= 0); [|lra].
  rewrite <- (sumf_zero K). apply sumf_le. intros k Hk.
  destruct Hp as [Hp0 Hs]. pose proof (Hp0 k Hk).
  pose proof (simplex_le_one K p k (conj Hp0 Hs) Hk).
  destruct (Req_EM_T (p k) 0) as [->|Hne]; [lra|].
  assert (ln (p k) <= 0) by (rewrite <- ln_1; apply ln_le; lra). nra.
Qed.

Lemma uniform_sum K : (0 < K)%nat -> sumf K (fun _ => / INR K) = 1.
Proof. intros HK. rewrite sumf_const. field. apply Rgt_not_eq, INR_pos, HK. Qed.

(** The Gibbs gap to the uniform point, a sum of non-negative terms. *)
Lemma shannon_gap K p : (0 < K)%nat -> simplex K p ->
  ln (INR K) - shannon K p =
  sumf K (fun k => p k * ln (p k) - p k * ln (/ INR K) - (p k - / INR K)).
Proof.
  intros HK [Hp Hs]. rewrite !sumf_minus, sumf_scal_r, Hs, uniform_sum by exact HK.
  unfold shannon. rewrite ln_Rinv by apply INR_pos, HK. ring.
Qed.

Lemma shannon_le_log K p : (0 < K)%nat -> simplex K p -> shannon K p <= ln (INR K).
Proof.
  intros HK Hp. pose proof (shannon_gap K p HK Hp).
  assert (0 <= sumf K (fun k => p k * ln (p k) - p k * ln (/ INR K) - (p k - / INR K))); [|lra].
  apply sumf_nonneg. intros k Hk. destruct Hp as [Hp _].
  pose proof (gibbs_term (p k) (/ INR K) (Hp k Hk) ltac:(apply Rinv_0_lt_compat, INR_pos, HK)). lra.
Qed.

Lemma shannon_max_only_uniform K p : (0 < K)%nat -> simplex K p -> shannon K p = ln (INR K) ->
  forall k, (k < K)%nat -> p k = / INR K.
Proof.
  intros HK Hp He k Hk. pose proof (shannon_gap K p HK Hp) as G. rewrite He in G.
  destruct (Req_EM_T (p k) (/ INR K)) as [|Hne]; [assumption|exfalso].
  destruct Hp as [Hp Hs].
  assert (0 < sumf K (fun k => p k * ln (p k) - p k * ln (/ INR K) - (p k - / INR K))); [|lra].
  rewrite <- (sumf_zero K). apply sumf_lt.
  - intros l Hl. pose proof (gibbs_term (p l) (/ INR K) (Hp l Hl) ltac:(apply Rinv_0_lt_compat, INR_pos, HK)). lra.
  - exists k. split; [exact Hk|].
    pose proof (gibbs_term_strict (p k) (/ INR K) (Hp k Hk) ltac:(apply Rinv_0_lt_compat, INR_pos, HK) Hne). lra.
Qed.

Lemma shannon_uniform K : (0 < K)%nat -> shannon K (fun _ => / INR K) = ln (INR K).
Proof.
  intros HK. unfold shannon. rewrite sumf_const, ln_Rinv by apply INR_pos, HK.
  field. apply Rgt_not_eq, INR_pos, HK.
Qed.

Lemma tsallis_nonneg K p : simplex K p -> 0 <= tsallis K p.
Proof.
  intros Hp. unfold tsallis. assert (sumf K (fun k => p k * sqrt (p k)) <= 1); [|lra].
  destruct Hp as [Hp0 Hs]. rewrite <- Hs. apply sumf_le. intros k Hk.
  pose proof (simplex_le_one K p k (conj Hp0 Hs) Hk). pose proof (Hp0 k Hk).
  assert (sqrt (p k) <= 1) by (rewrite <- sqrt_1; apply sqrt_le_1_alt; lra).
  pose proof (sqrt_pos (p k)). nra.
Qed.

(** The tangent-line gap at v = K^-1/2. *)
Lemma tsallis_gap K p : (0 < K)%nat -> simplex K p ->
  hmax Entmax15 K - tsallis K p =
  4 / 3 * sumf K (fun k => sqrt (p k) ^ 3 - ((/ sqrt (INR K)) ^ 3 +
     3 / 2 * (/ sqrt (INR K)) * (sqrt (p k) ^ 2 - (/ sqrt (INR K)) ^ 2))).
Proof.
  intros HK [Hp Hs]. pose proof (INR_pos K HK) as HKp.
  pose proof (sqrt_lt_R0 _ HKp) as Hq. pose proof (sqrt_sqrt (INR K) (Rlt_le _ _ HKp)) as Hqq.
  unfold hmax, tsallis.
  rewrite (sumf_ext K (fun k => p k * sqrt (p k)) (fun k => sqrt (p k) ^ 3))
    by (intros k Hk; apply p_sqrt_p, Hp, Hk).
  rewrite !sumf_minus, sumf_plus, sumf_const, sumf_scal.
  rewrite (sumf_ext K (fun k => sqrt (p k) ^ 2 - (/ sqrt (INR K)) ^ 2) (fun k => p k - / INR K))
    by (intros k Hk; rewrite pow2_sqrt by (apply Hp, Hk); rewrite pow_inv, pow2_sqrt by lra; reflexivity).
  rewrite sumf_minus, Hs, uniform_sum by exact HK.
  assert (E : INR K * (/ sqrt (INR K)) ^ 3 = / sqrt (INR K)).
  { set (q := sqrt (INR K)) in *. rewrite <- Hqq. field. lra. }
  rewrite E. field. lra.
Qed.

Lemma tsallis_le_hmax K p : (0 < K)%nat -> simplex K p -> tsallis K p <= hmax Entmax15 K.
Proof.
  intros HK Hp. pose proof (tsallis_gap K p HK Hp).
  assert (0 <= sumf K (fun k => sqrt (p k) ^ 3 - ((/ sqrt (INR K)) ^ 3 +
     3 / 2 * (/ sqrt (INR K)) * (sqrt (p k) ^ 2 - (/ sqrt (INR K)) ^ 2)))); [|lra].
  apply sumf_nonneg. intros k Hk.
  pose proof (cube_tangent (sqrt (p k)) (/ sqrt (INR K)) (sqrt_pos _)
    ltac:(left; apply Rinv_0_lt_compat, sqrt_lt_R0, INR_pos, HK)). lra.
Qed.

Lemma tsallis_max_only_uniform K p : (0 < K)%nat -> simplex K p -> tsallis K p = hmax Entmax15 K ->
  forall k, (k < K)%nat -> p k = / INR K.
Proof.
  intros HK Hp He k Hk. pose proof (tsallis_gap K p HK Hp) as G. rewrite He in G.
  set (v := / sqrt (INR K)) in *.
  assert (Hv : 0 < v) by (apply Rinv_0_lt_compat, sqrt_lt_R0, INR_pos, HK).
  assert (Hz : sumf K (fun k => sqrt (p k) ^ 3 - (v ^ 3 + 3 / 2 * v * (sqrt (p k) ^ 2 - v ^ 2))) = 0) by lra.
  assert (Hn : forall l, (l < K)%nat ->
    0 <= sqrt (p l) ^ 3 - (v ^ 3 + 3 / 2 * v * (sqrt (p l) ^ 2 - v ^ 2))).
  { intros l _. pose proof (cube_tangent (sqrt (p l)) v (sqrt_pos _) (Rlt_le _ _ Hv)). lra. }
  pose proof (sumf_zero_nonneg K _ Hn Hz k Hk) as Hk0. cbv beta in Hk0.
  pose proof (cube_tangent_eq (sqrt (p k)) v (sqrt_pos _) Hv ltac:(lra)) as Hs.
  destruct Hp as [Hp _]. rewrite <- (sqrt_sqrt (p k)) by (apply Hp, Hk). rewrite Hs. unfold v.
  rewrite <- Rinv_mult, sqrt_sqrt by (left; apply INR_pos, HK). reflexivity.
Qed.

Lemma tsallis_uniform K : (0 < K)%nat -> tsallis K (fun _ => / INR K) = hmax Entmax15 K.
Proof.
  intros HK. pose proof (INR_pos K HK) as HKp. unfold tsallis, hmax. rewrite sumf_const.
  rewrite sqrt_inv. pose proof (sqrt_lt_R0 _ HKp). pose proof (sqrt_sqrt (INR K) (Rlt_le _ _ HKp)).
  set (q := sqrt (INR K)) in *. rewrite <- H0. field. lra.
Qed.

Theorem entropy_bounds kd K p : (0 < K)%nat -> simplex K p ->
  0 <= entropy kd K p <= hmax kd K.
Proof.
  intros HK Hp. destruct kd; simpl.
  - split; [apply shannon_nonneg, Hp|apply shannon_le_log; assumption].
  - split; [apply tsallis_nonneg, Hp|apply tsallis_le_hmax; assumption].
Qed.

(** H_max is the maximum of the entropy on the simplex, attained only at the uniform point. *)
Theorem entropy_max_iff_uniform kd K p : (0 < K)%nat -> simplex K p ->
  (entropy kd K p = hmax kd K <-> forall k, (k < K)%nat -> p k = / INR K).
Proof.
  intros HK Hp. split.
  - destruct kd; [apply shannon_max_only_uniform|apply tsallis_max_only_uniform]; assumption.
  - intros Hu. destruct kd; simpl.
    + unfold shannon. rewrite (sumf_ext K (fun k => p k * ln (p k)) (fun k => / INR K * ln (/ INR K)))
        by (intros k Hk; rewrite Hu by exact Hk; reflexivity).
      apply shannon_uniform, HK.
    + unfold tsallis. rewrite (sumf_ext K (fun k => p k * sqrt (p k)) (fun k => / INR K * sqrt (/ INR K)))
        by (intros k Hk; rewrite Hu by exact Hk; reflexivity).
      apply tsallis_uniform, HK.
Qed.

Lemma hmax_pos kd K : (2 <= K)%nat -> 0 < hmax kd K.
Proof.
  intros HK. assert (H1 : 1 < INR K) by (apply lt_1_INR; lia). destruct kd; simpl.
  - rewrite <- ln_1. apply ln_increasing; lra.
  - assert (1 < sqrt (INR K)) by (rewrite <- sqrt_1; apply sqrt_lt_1_alt; lra).
    assert (/ sqrt (INR K) < 1) by (rewrite <- Rinv_1; apply Rinv_lt_contravar; lra). lra.
Qed.

(** ** Vertices of the simplex and convex combinations. *)

Definition vertex (j k : nat) : R := if Nat.eq_dec k j then 1 else 0.

Lemma vertex_simplex K j : (j < K)%nat -> simplex K (vertex j).
Proof.
  intros Hj. split.
  - intros k _. unfold vertex. destruct (Nat.eq_dec k j); lra.
  - rewrite (sumf_single K j); [|exact Hj|intros i _ Hi; unfold vertex; destruct (Nat.eq_dec i j); [lia|reflexivity]].
    unfold vertex. destruct (Nat.eq_dec j j); [reflexivity|contradiction].
Qed.

Lemma entropy_vertex kd K j : (j < K)%nat -> entropy kd K (vertex j) = 0.
Proof.
  intros Hj. destruct kd; simpl.
  - unfold shannon. rewrite (sumf_ext K _ (fun _ => 0)); [rewrite sumf_zero; ring|].
    intros k _. unfold vertex. destruct (Nat.eq_dec k j); [rewrite ln_1|]; ring.
  - unfold tsallis. rewrite (sumf_single K j); [|exact Hj|].
    + unfold vertex. destruct (Nat.eq_dec j j); [|contradiction]. rewrite sqrt_1. ring.
    + intros i _ Hi. unfold vertex. destruct (Nat.eq_dec i j); [lia|ring].
Qed.

Lemma gval_vertex kd T K d j : (j < K)%nat -> gval kd T K d (vertex j) = d j.
Proof.
  intros Hj. unfold gval. rewrite entropy_vertex by exact Hj.
  rewrite (sumf_single K j); [|exact Hj|].
  - unfold vertex. destruct (Nat.eq_dec j j); [ring|contradiction].
  - intros i _ Hi. unfold vertex. destruct (Nat.eq_dec i j); [lia|ring].
Qed.

Lemma convex_ge_min K p d : simplex K p -> mink K d <= sumf K (fun k => p k * d k).
Proof.
  intros [Hp Hs]. apply Rle_trans with (sumf K (fun k => p k * mink K d)).
  - rewrite sumf_scal_r, Hs. lra.
  - apply sumf_le. intros k Hk. apply Rmult_le_compat_l; [apply Hp, Hk|apply mink_le, Hk].
Qed.

Lemma mink_of_min K d j : (j < K)%nat -> (forall k, (k < K)%nat -> d j <= d k) -> mink K d = d j.
Proof.
  intros Hj H. pose proof (amin_lt K d ltac:(lia)). unfold mink.
  pose proof (amin_le K d j Hj). pose proof (H (amin K d) ltac:(assumption)). lra.
Qed.

(** ** The chain for one point (one row d of squared distances). *)

Section Point.
Variables (kd : kind) (T : R) (K : nat) (d : nat -> R).
Hypotheses (HK : (0 < K)%nat) (HT : 0 < T).
Let r := rmap kd K (fun l => - d l / T).

Lemma point_F_le_J : free_point kd T K d <= mink K d.
Proof.
  pose proof (amin_lt K d HK). unfold mink.
  rewrite <- (gval_vertex kd T K d (amin K d)) by assumption.
  apply free_point_is_minimum; [exact HK|exact HT|apply vertex_simplex; assumption].
Qed.

Lemma point_L_eq : sumf K (fun k => r k * d k) = free_point kd T K d + T * entropy kd K r.
Proof. rewrite free_point_closed_form by assumption. unfold gval. fold r. ring. Qed.

Lemma point_J_le_L : mink K d <= sumf K (fun k => r k * d k).
Proof. apply convex_ge_min, rmap_simplex, HK. Qed.

Lemma point_F_ge : mink K d - T * hmax kd K <= free_point kd T K d.
Proof.
  pose proof point_L_eq. pose proof point_J_le_L.
  destruct (entropy_bounds kd K r HK (rmap_simplex kd K _ HK)).
  assert (T * entropy kd K r <= T * hmax kd K) by (apply Rmult_le_compat_l; lra). lra.
Qed.

Lemma point_L_le : sumf K (fun k => r k * d k) <= mink K d + T * hmax kd K.
Proof.
  pose proof point_L_eq. pose proof point_F_le_J.
  destruct (entropy_bounds kd K r HK (rmap_simplex kd K _ HK)).
  assert (T * entropy kd K r <= T * hmax kd K) by (apply Rmult_le_compat_l; lra). lra.
Qed.

End Point.

(** Rows with all distances equal give the uniform row, for both maps. *)
Lemma rmap_equal_row kd K z : (0 < K)%nat -> (forall k, (k < K)%nat -> z k = z O) ->
  forall k, (k < K)%nat -> rmap kd K z k = / INR K.
Proof.
  intros HK Hz k Hk. pose proof (INR_pos K HK) as HKp. destruct kd; simpl.
  - unfold softmax. rewrite (sumf_ext K (fun l => exp (z l)) (fun _ => exp (z O)))
      by (intros l Hl; rewrite Hz by exact Hl; reflexivity).
    rewrite sumf_const, Hz by exact Hk. field. split; apply Rgt_not_eq; first [apply exp_pos|lra].
  - unfold entmax.
    pose proof (sqrt_lt_R0 _ HKp) as Hq. pose proof (sqrt_sqrt (INR K) (Rlt_le _ _ HKp)) as Hqq.
    rewrite (tau_unique K (fun l => z l / 2) (z O / 2 - / sqrt (INR K)) HK).
    + rewrite Hz by exact Hk. rewrite pos_of_nonneg by (left; replace (z O / 2 - (z O / 2 - / sqrt (INR K)))
        with (/ sqrt (INR K)) by ring; apply Rinv_0_lt_compat, Hq).
      rewrite <- Hqq at 2. field. lra.
    + unfold phi. rewrite (sumf_ext K _ (fun _ => (/ sqrt (INR K)) ^ 2)).
      * rewrite sumf_const. rewrite <- Hqq at 1. field. lra.
      * intros l Hl. rewrite Hz by exact Hl.
        rewrite pos_of_nonneg; [f_equal; ring|].
        left. replace (z O / 2 - (z O / 2 - / sqrt (INR K))) with (/ sqrt (INR K)) by ring.
        apply Rinv_0_lt_compat, Hq.
Qed.

(** A uniform output comes only from a row with all distances equal. *)
Lemma rmap_uniform_equal_row kd K z : (0 < K)%nat ->
  (forall k, (k < K)%nat -> rmap kd K z k = / INR K) -> forall k, (k < K)%nat -> z k = z O.
Proof.
  intros HK Hu k Hk. pose proof (INR_pos K HK) as HKp.
  pose proof (Hu k Hk) as H1. pose proof (Hu O HK) as H0. destruct kd; simpl in *.
  - unfold softmax in *. rewrite <- H0 in H1.
    pose proof (softmax_sum_pos K z HK).
    assert (exp (z k) = exp (z O)).
    { apply (Rmult_eq_reg_r (/ sumf K (fun l => exp (z l)))); [exact H1|].
      apply Rinv_neq_0_compat, Rgt_not_eq, H. }
    apply exp_inv, H2.
  - unfold entmax in *. set (t := tau K (fun l => z l / 2)) in *.
    assert (Hpos : forall l, (l < K)%nat -> pos (z l / 2 - t) = sqrt (/ INR K)).
    { intros l Hl. rewrite <- (Hu l Hl). unfold entmax. fold t.
      rewrite sqrt_pow2 by apply pos_nonneg. reflexivity. }
    assert (Hs : 0 < sqrt (/ INR K)) by (apply sqrt_lt_R0, Rinv_0_lt_compat, HKp).
    pose proof (Hpos k Hk) as Pk. pose proof (Hpos O HK) as P0.
    unfold pos, Rmax in Pk, P0.
    destruct (Rle_dec 0 (z k / 2 - t)); destruct (Rle_dec 0 (z O / 2 - t)); lra.
Qed.

(** Per point, L < J + T H_max when K >= 2. *)
Lemma point_L_lt kd T K d : (2 <= K)%nat -> 0 < T ->
  sumf K (fun k => rmap kd K (fun l => - d l / T) k * d k) < mink K d + T * hmax kd K.
Proof.
  intros HK2 HT. assert (HK : (0 < K)%nat) by lia.
  set (r := rmap kd K (fun l => - d l / T)).
  pose proof (point_L_eq kd T K d HK HT) as E. fold r in E.
  pose proof (point_F_le_J kd T K d HK HT).
  destruct (entropy_bounds kd K r HK (rmap_simplex kd K _ HK)) as [_ Hle].
  destruct (Rle_lt_or_eq_dec _ _ Hle) as [Hlt|Heq].
  - assert (T * entropy kd K r < T * hmax kd K) by (apply Rmult_lt_compat_l; lra). lra.
  - (* r is uniform, so every distance of the row is the same, and F = J - T H_max < J. *)
    pose proof (proj1 (entropy_max_iff_uniform kd K r HK (rmap_simplex kd K _ HK)) Heq) as Hu.
    pose proof (rmap_uniform_equal_row kd K _ HK Hu) as Hz.
    assert (Hd : forall k, (k < K)%nat -> d k = d O).
    { intros k Hk. specialize (Hz k Hk). simpl in Hz.
      apply (Rmult_eq_reg_r (- / T)); [|apply Ropp_neq_0_compat, Rinv_neq_0_compat; lra].
      unfold Rdiv in Hz. lra. }
    rewrite (sumf_ext K _ (fun _ => / INR K * d O)) in E
      by (intros k Hk; unfold r; rewrite Hu, Hd by assumption; reflexivity).
    rewrite (sumf_ext K _ (fun _ => / INR K * d O))
      by (intros k Hk; unfold r; rewrite Hu, Hd by assumption; reflexivity).
    rewrite (mink_of_min K d O HK) by (intros k Hk; rewrite (Hd k Hk); lra).
    rewrite sumf_const. replace (INR K * (/ INR K * d O)) with (d O)
      by (field; apply Rgt_not_eq, INR_pos, HK).
    pose proof (hmax_pos kd K HK2).
    assert (0 < T * hmax kd K) by (apply Rmult_lt_0_compat; assumption). lra.
Qed.

(** Per point, F = J - T H_max only if every distance of the row is the same: then
    T H(r) = L - F >= J - F = T H_max, so H(r) = H_max, r is uniform and the row is equal. *)
Lemma point_F_eq_only_if kd T K d : (0 < K)%nat -> 0 < T ->
  free_point kd T K d = mink K d - T * hmax kd K -> forall k, (k < K)%nat -> d k = d O.
Proof.
  intros HK HT Heq.
  set (r := rmap kd K (fun l => - d l / T)).
  pose proof (point_L_eq kd T K d HK HT) as E. fold r in E.
  pose proof (point_J_le_L kd T K d HK) as HJ. fold r in HJ.
  destruct (entropy_bounds kd K r HK (rmap_simplex kd K _ HK)) as [_ Hle].
  assert (Hent : entropy kd K r = hmax kd K).
  { apply Rle_antisym; [exact Hle|]. apply (Rmult_le_reg_l T); [exact HT|lra]. }
  pose proof (proj1 (entropy_max_iff_uniform kd K r HK (rmap_simplex kd K _ HK)) Hent) as Hu.
  pose proof (rmap_uniform_equal_row kd K _ HK Hu) as Hz.
  intros k Hk. specialize (Hz k Hk). simpl in Hz.
  apply (Rmult_eq_reg_r (- / T)); [|apply Ropp_neq_0_compat, Rinv_neq_0_compat; lra].
  unfold Rdiv in Hz. lra.
Qed.

(** ** The sandwich over the data: means over the N points. *)

Lemma mean_le N a b : (0 < N)%nat -> (forall i, (i < N)%nat -> a i <= b i) ->
  sumf N a / INR N <= sumf N b / INR N.
Proof.
  intros HN H. unfold Rdiv. apply Rmult_le_compat_r.
  - left. apply Rinv_0_lt_compat, INR_pos, HN.
  - apply sumf_le, H.
Qed.

Lemma mean_lt N a b : (0 < N)%nat -> (forall i, (i < N)%nat -> a i < b i) ->
  sumf N a / INR N < sumf N b / INR N.
Proof.
  intros HN H. unfold Rdiv. apply Rmult_lt_compat_r.
  - apply Rinv_0_lt_compat, INR_pos, HN.
  - apply sumf_lt; [intros; left; apply H; assumption|exists O; split; [exact HN|apply H, HN]].
Qed.

Lemma mean_shift N a c : (0 < N)%nat -> sumf N a / INR N + c = sumf N (fun i => a i + c) / INR N.
Proof.
  intros HN. rewrite sumf_plus, sumf_const. field. apply Rgt_not_eq, INR_pos, HN.
Qed.

Section Data.
Variables (kd : kind) (T : R) (D N K : nat) (X C : nat -> nat -> R).
Hypotheses (HN : (0 < N)%nat) (HK : (0 < K)%nat) (HT : 0 < T).

(** F_T as the mean of the closed forms. *)
Lemma F_closed_form : F kd T D N K X C =
  sumf N (fun i => gval kd T K (dist D X C i) (resp kd T D K X C i)) / INR N.
Proof.
  unfold F. f_equal. apply sumf_ext. intros i _. apply free_point_closed_form; assumption.
Qed.

(** The softmax free energy: F_T = -(T/N) sum_i log sum_k exp(-d_ik/T). *)
Corollary F_softmax_closed_form (HS : kd = Softmax) :
  F kd T D N K X C = - T / INR N * sumf N (fun i => ln (sumf K (fun k => exp (- dist D X C i k / T)))).
Proof.
  subst kd. unfold F. rewrite (sumf_ext N _ (fun i => - T * ln (sumf K (fun k => exp (- dist D X C i k / T)))))
    by (intros; apply free_point_softmax; assumption).
  rewrite sumf_scal. field. apply Rgt_not_eq, INR_pos, HN.
Qed.

(** Claim [sandwich]: J - T H_max <= F_T <= J <= L_T <= J + T H_max. *)
Theorem sandwich :
  J D N K X C - T * hmax kd K <= F kd T D N K X C /\
  F kd T D N K X C <= J D N K X C /\
  J D N K X C <= L kd T D N K X C /\
  L kd T D N K X C <= J D N K X C + T * hmax kd K.
Proof.
  unfold J, L, F. repeat split.
  - unfold Rminus. rewrite mean_shift by exact HN. apply mean_le; [exact HN|].
    intros i _. pose proof (point_F_ge kd T K (dist D X C i) HK HT). lra.
  - apply mean_le; [exact HN|]. intros i _. apply point_F_le_J; assumption.
  - apply mean_le; [exact HN|]. intros i _. apply point_J_le_L; assumption.
  - rewrite mean_shift by exact HN. apply mean_le; [exact HN|].
    intros i _. apply point_L_le; assumption.
Qed.

(** L_T = F_T + T mean_i H(r_i). *)
Theorem objective_is_free_energy_plus_entropy :
  L kd T D N K X C = F kd T D N K X C + T * (sumf N (fun i => entropy kd K (resp kd T D K X C i)) / INR N).
Proof.
  unfold L, F.
  assert (E : sumf N (fun i => sumf K (fun k => resp kd T D K X C i k * dist D X C i k)) =
    sumf N (fun i => free_point kd T K (dist D X C i)) +
    T * sumf N (fun i => entropy kd K (resp kd T D K X C i))).
  { rewrite <- sumf_scal, <- sumf_plus. apply sumf_ext. intros i _.
    apply point_L_eq; assumption. }
  rewrite E. field. apply Rgt_not_eq, INR_pos, HN.
Qed.

(** The lower bound is attained when every point is equidistant from all centres. *)
Theorem sandwich_lower_bound_attained :
  (forall i k, (i < N)%nat -> (k < K)%nat -> dist D X C i k = dist D X C i O) ->
  F kd T D N K X C = J D N K X C - T * hmax kd K.
Proof.
  intros Heq. unfold F, J, Rminus. rewrite mean_shift by exact HN. f_equal. apply sumf_ext.
  intros i Hi. rewrite free_point_closed_form by assumption.
  assert (Hu : forall k, (k < K)%nat -> rmap kd K (fun l => - dist D X C i l / T) k = / INR K).
  { apply rmap_equal_row; [exact HK|]. intros k Hk. rewrite Heq by assumption. reflexivity. }
  unfold gval.
  rewrite (proj2 (entropy_max_iff_uniform kd K _ HK (rmap_simplex kd K _ HK)) Hu).
  rewrite (sumf_ext K _ (fun _ => / INR K * dist D X C i O))
    by (intros k Hk; rewrite Hu, Heq by assumption; reflexivity).
  rewrite (mink_of_min K (dist D X C i) O HK)
    by (intros k Hk; rewrite (Heq i k) by assumption; lra).
  rewrite sumf_const. field. apply Rgt_not_eq, INR_pos, HK.
Qed.

(** ... and only then: F_T = J - T H_max forces every point to be equidistant from all
    centres (each point's F is at least its J - T H_max, so the means are equal only if every
    point's are). *)
Theorem sandwich_lower_bound_attained_only_if :
  F kd T D N K X C = J D N K X C - T * hmax kd K ->
  forall i k, (i < N)%nat -> (k < K)%nat -> dist D X C i k = dist D X C i O.
Proof.
  intros Heq i k Hi Hk.
  apply (point_F_eq_only_if kd T K (dist D X C i) HK HT); [|exact Hk].
  destruct (Req_dec (free_point kd T K (dist D X C i)) (mink K (dist D X C i) - T * hmax kd K))
    as [E|E]; [exact E|exfalso].
  assert (Hlt : sumf N (fun j => mink K (dist D X C j) + - (T * hmax kd K)) <
                sumf N (fun j => free_point kd T K (dist D X C j))).
  { apply sumf_lt.
    - intros j _. pose proof (point_F_ge kd T K (dist D X C j) HK HT). lra.
    - exists i. split; [exact Hi|]. pose proof (point_F_ge kd T K (dist D X C i) HK HT). lra. }
  unfold F, J, Rminus in Heq. rewrite mean_shift in Heq by exact HN.
  assert (Hpos : 0 < / INR N) by (apply Rinv_0_lt_compat, INR_pos, HN).
  assert (sumf N (fun j => mink K (dist D X C j) + - (T * hmax kd K)) * / INR N <
          sumf N (fun j => free_point kd T K (dist D X C j)) * / INR N)
    by (apply Rmult_lt_compat_r; assumption).
  unfold Rdiv in Heq. lra.
Qed.

(** For instance when all centres coincide. *)
Corollary sandwich_lower_bound_at_coincident_centres :
  (forall k j, (k < K)%nat -> (j < D)%nat -> C k j = C O j) ->
  F kd T D N K X C = J D N K X C - T * hmax kd K.
Proof.
  intros Hc. apply sandwich_lower_bound_attained. intros i k _ Hk.
  unfold dist, dist2. apply sumf_ext. intros j Hj. rewrite Hc by assumption. reflexivity.
Qed.

(** The upper bound is never attained for K >= 2. *)
Theorem sandwich_upper_bound_strict : (2 <= K)%nat ->
  L kd T D N K X C < J D N K X C + T * hmax kd K.
Proof.
  intros HK2. unfold L, J. rewrite mean_shift by exact HN. apply mean_lt; [exact HN|].
  intros i _. apply point_L_lt; assumption.
Qed.

End Data.
