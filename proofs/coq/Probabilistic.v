(** * The probabilistic view (theory/probabilistic.md): claims [truncated-free-energy-hard],
    [truncated-em-hard-is-lloyd], [soft-kmeans-is-em] and [annealing-fixed-point].

    Model: K isotropic Gaussians in R^D, equal priors 1/K, one shared variance s > 0:
    log p(x, k) = -log K - (D/2) log(2 pi s) - d_k / (2 s), d_k = ||x - mu_k||^2.
    Free energies are means over the N points. *)

From Coq Require Import Reals Lra Lia.
From Coquelicot Require Import Coquelicot.
From KmeansRBF Require Import Base Sandwich Steps Lloyd.
Open Scope R_scope.

Definition log_joint (D K : nat) (s dk : R) : R :=
  - ln (INR K) - INR D / 2 * ln (2 * PI * s) - dk / (2 * s).

(** F_n(theta) = (1/N) sum_i log sum_{k in K_i} p(x_i, k), the sets K_i given by an
    indicator [sel i k] (1 on K_i, 0 elsewhere). *)
Definition trunc_free_energy (D N K : nat) (X C : nat -> nat -> R) (s : R) (sel : nat -> nat -> R) : R :=
  sumf N (fun i => ln (sumf K (fun k => sel i k * exp (log_joint D K s (dist D X C i k))))) / INR N.

(** n_nearest = 1: K_i = {the nearest mean}, ties to the lowest index ([Base.hard]). *)
Definition F1 (D N K : nat) (X C : nat -> nat -> R) (s : R) : R := trunc_free_energy D N K X C s (hard D K X C).

(** The truncated posterior q_ik = sel_ik p(x_i, k) / sum_l sel_il p(x_i, l). *)
Definition trunc_post (D K : nat) (X C : nat -> nat -> R) (s : R) (sel : nat -> nat -> R) (i k : nat) : R :=
  sel i k * exp (log_joint D K s (dist D X C i k)) / sumf K (fun l => sel i l * exp (log_joint D K s (dist D X C i l))).

(** F(q, theta) = (1/N) sum_i [sum_k q_ik log p(x_i, k) + H(q_i)]. *)
Definition var_free_energy (D N K : nat) (X M : nat -> nat -> R) (s : R) (q : nat -> nat -> R) : R :=
  sumf N (fun i => sumf K (fun k => q i k * log_joint D K s (dist D X M i k)) + shannon K (q i)) / INR N.

(** The M-step variance s' = (1/(N D)) sum_ik q_ik ||x_i - mu'_k||^2 at the new means. *)
Definition mstep_var (D N K : nat) (X M : nat -> nat -> R) (q : nat -> nat -> R) : R :=
  sumf N (fun i => sumf K (fun k => q i k * dist D X M i k)) / (INR N * INR D).

(** ** Claim [truncated-free-energy-hard]. *)

Lemma F1_closed_form D N K X C s : (0 < N)%nat -> (0 < K)%nat -> 0 < s ->
  F1 D N K X C s = - ln (INR K) - INR D / 2 * ln (2 * PI * s) - J D N K X C / (2 * s).
Proof.
  intros HN HK Hs. unfold F1, trunc_free_energy, J.
  rewrite (sumf_ext N _ (fun i => log_joint D K s (mink K (dist D X C i)))).
  - unfold log_joint. rewrite sumf_minus, !sumf_minus, !sumf_const.
    rewrite (sumf_ext N (fun i => mink K (dist D X C i) / (2 * s)) (fun i => / (2 * s) * mink K (dist D X C i)))
      by (intros; unfold Rdiv; ring).
    rewrite sumf_scal. field. pose proof (INR_pos N HN). split; apply Rgt_not_eq; lra.
  - intros i _. rewrite (sumf_single K (assign D K X C i)).
    + unfold hard. rewrite if_eq, Rmult_1_l, ln_exp. reflexivity.
    + apply amin_lt, HK.
    + intros k _ Hk. unfold hard. destruct (Nat.eq_dec (assign D K X C i) k); [congruence|ring].
Qed.

Lemma ln_2pi_s s : 0 < s -> ln (2 * PI * s) = ln (2 * PI) + ln s.
Proof. intros Hs. apply ln_mult; [pose proof PI_RGT_0; lra|exact Hs]. Qed.

Theorem truncated_free_energy_hard D N K X C : (0 < N)%nat -> (0 < K)%nat -> (0 < D)%nat ->
  0 < J D N K X C ->
  let sstar := J D N K X C / INR D in
  (* the closed form at every variance *)
  (forall s, 0 < s -> F1 D N K X C s = - ln (INR K) - INR D / 2 * ln (2 * PI * s) - J D N K X C / (2 * s)) /\
  (* the value at s* = J/D *)
  F1 D N K X C sstar = - ln (INR K) - INR D / 2 * ln (2 * PI * exp 1 * sstar) /\
  (* the gap, with u = J/(D s) *)
  (forall s, 0 < s -> let u := J D N K X C / (INR D * s) in
     F1 D N K X C sstar - F1 D N K X C s = INR D / 2 * (u - 1 - ln u)) /\
  (* maximised over s > 0 exactly at s* *)
  (forall s, 0 < s -> F1 D N K X C s <= F1 D N K X C sstar) /\
  (forall s, 0 < s -> F1 D N K X C s = F1 D N K X C sstar -> s = sstar).
Proof.
  intros HN HK HD HJ sstar. pose proof (INR_pos D HD) as HDp. pose proof PI_RGT_0 as Hpi.
  assert (Hs0 : 0 < sstar) by (apply Rdiv_lt_0_compat; assumption).
  set (Jv := J D N K X C) in *.
  assert (Hgap : forall s, 0 < s -> F1 D N K X C sstar - F1 D N K X C s =
     INR D / 2 * (Jv / (INR D * s) - 1 - ln (Jv / (INR D * s)))).
  { intros s Hs. rewrite !F1_closed_form by assumption. fold Jv.
    rewrite !ln_2pi_s by assumption. unfold sstar.
    rewrite ln_div by assumption. rewrite (ln_div Jv (INR D * s)) by (try assumption; nra).
    rewrite (ln_mult (INR D) s) by assumption. field. split; lra. }
  assert (Hu : forall s, 0 < s -> 0 < Jv / (INR D * s)) by (intros; apply Rdiv_lt_0_compat; nra).
  split; [|split; [|split; [|split]]].
  - intros s Hs. apply F1_closed_form; assumption.
  - rewrite F1_closed_form by assumption. fold Jv.
    replace (2 * PI * exp 1 * sstar) with (exp 1 * (2 * PI * sstar)) by ring.
    rewrite (ln_mult (exp 1)), ln_exp by (try apply exp_pos; nra).
    unfold sstar. field. lra.
  - intros s Hs u. apply Hgap, Hs.
  - intros s Hs. pose proof (Hgap s Hs). pose proof (ln_le_minus_one _ (Hu s Hs)).
    assert (0 <= INR D / 2 * (Jv / (INR D * s) - 1 - ln (Jv / (INR D * s)))) by (apply Rmult_le_pos; lra). lra.
  - intros s Hs E. pose proof (Hgap s Hs) as G. rewrite E in G.
    destruct (Req_EM_T (Jv / (INR D * s)) 1) as [H1|H1].
    + unfold sstar. apply (Rmult_eq_reg_r (INR D)); [|lra].
      replace (Jv / INR D * INR D) with Jv by (field; lra).
      replace Jv with (Jv / (INR D * s) * (INR D * s)) by (field; nra). rewrite H1. ring.
    + exfalso. pose proof (ln_lt_minus_one _ (Hu s Hs) H1).
      assert (0 < INR D / 2 * (Jv / (INR D * s) - 1 - ln (Jv / (INR D * s)))) by (apply Rmult_lt_0_compat; lra). lra.
Qed.

(** After an M-step with q held fixed (any q whose rows are in the simplex, so any
    n_nearest): F(q, theta') = -log K - (D/2) log(2 pi e s') + mean_i H(q_i). *)
Theorem free_energy_after_m_step D N K X C q : (0 < N)%nat -> (0 < K)%nat -> (0 < D)%nat ->
  (forall i, (i < N)%nat -> simplex K (q i)) ->
  let M' := wstep N X C q in
  let s' := mstep_var D N K X M' q in
  0 < s' ->
  var_free_energy D N K X M' s' q =
  - ln (INR K) - INR D / 2 * ln (2 * PI * exp 1 * s') + sumf N (fun i => shannon K (q i)) / INR N.
Proof.
  intros HN HK HD Hq M' s' Hs. pose proof (INR_pos D HD). pose proof (INR_pos N HN). pose proof PI_RGT_0.
  unfold var_free_energy, log_joint.
  set (S := sumf N (fun i => sumf K (fun k => q i k * dist D X M' i k))).
  assert (HS : S = s' * (INR N * INR D)) by (unfold s', mstep_var; fold S; field; lra).
  rewrite (sumf_ext N _ (fun i => (- ln (INR K) - INR D / 2 * ln (2 * PI * s')) * sumf K (q i)
                              - / (2 * s') * sumf K (fun k => q i k * dist D X M' i k) + shannon K (q i))).
  2:{ intros i _. rewrite <- !sumf_scal, <- sumf_minus. f_equal. apply sumf_ext. intros; unfold Rdiv; ring. }
  rewrite (sumf_ext N (fun i => (- ln (INR K) - INR D / 2 * ln (2 * PI * s')) * sumf K (q i)
                              - / (2 * s') * sumf K (fun k => q i k * dist D X M' i k) + shannon K (q i))
                      (fun i => (- ln (INR K) - INR D / 2 * ln (2 * PI * s'))
                              - / (2 * s') * sumf K (fun k => q i k * dist D X M' i k) + shannon K (q i))).
  2:{ intros i Hi. destruct (Hq i Hi) as [_ ->]. ring. }
  rewrite sumf_plus, sumf_minus, sumf_const, sumf_scal. fold S. rewrite HS.
  replace (2 * PI * exp 1 * s') with (exp 1 * (2 * PI * s')) by ring.
  rewrite (ln_mult (exp 1)), ln_exp by (try apply exp_pos; nra).
  field. lra.
Qed.

(** n_nearest = 1: q is the old cells' indicator (entropy 0), and the identity is the
    Lücke-Forster one, s' being the old cells' distortion at the new means over D. *)
Corollary free_energy_after_m_step_hard D N K X C : (0 < N)%nat -> (0 < K)%nat -> (0 < D)%nat ->
  let M' := lloyd_step D N K X C in
  let s' := mstep_var D N K X M' (hard D K X C) in
  0 < s' ->
  s' = sumf N (fun i => dist D X M' i (assign D K X C i)) / (INR N * INR D) /\
  var_free_energy D N K X M' s' (hard D K X C) = - ln (INR K) - INR D / 2 * ln (2 * PI * exp 1 * s').
Proof.
  intros HN HK HD M' s' Hs.
  assert (Hsimp : forall i, (i < N)%nat -> simplex K (hard D K X C i)).
  { intros i _. split; [intros; apply hard_nonneg|].
    rewrite (sumf_single K (assign D K X C i)); [unfold hard; apply if_eq|apply amin_lt, HK|].
    intros k _ Hk. unfold hard. destruct Nat.eq_dec; [congruence|reflexivity]. }
  split.
  - unfold s', mstep_var. f_equal. apply sumf_ext. intros i _. apply hard_sum_dist, HK.
  - pose proof (free_energy_after_m_step D N K X C (hard D K X C) HN HK HD Hsimp) as E.
    cbv zeta in E. fold (lloyd_step D N K X C) in E. fold M' in E. fold s' in E. rewrite (E Hs).
    rewrite (sumf_ext N _ (fun _ => 0)); [rewrite sumf_zero; unfold Rdiv; ring|].
    intros i _. unfold shannon. rewrite (sumf_ext K _ (fun _ => 0)); [rewrite sumf_zero; ring|].
    intros k _. unfold hard. destruct Nat.eq_dec; [rewrite ln_1|]; ring.
Qed.

(** ** Claim [truncated-em-hard-is-lloyd]. *)

Lemma trunc_post_hard D K X C s i k : (0 < K)%nat -> (k < K)%nat ->
  trunc_post D K X C s (hard D K X C) i k = hard D K X C i k.
Proof.
  intros HK Hk. unfold trunc_post.
  rewrite (sumf_single K (assign D K X C i)); [|apply amin_lt, HK|].
  - unfold hard at 2. rewrite if_eq, Rmult_1_l. unfold hard. destruct Nat.eq_dec as [<-|]; [field; apply Rgt_not_eq, exp_pos|].
    unfold Rdiv. ring.
  - intros l _ Hl. unfold hard. destruct (Nat.eq_dec (assign D K X C i) l); [congruence|ring].
Qed.

(** With n_nearest = 1 the truncated posterior is the hard assignment, whatever s > 0; the
    M-step moves the means to Lloyd's cell means (empty cells kept); the variance update is
    the old cells' distortion at the new means over N D, at least J(mu')/D, with equality iff
    every point's old cell is still a nearest one at the new means. *)
Theorem truncated_em_hard_is_lloyd D N K X C s : (0 < N)%nat -> (0 < K)%nat -> (0 < D)%nat ->
  let q := trunc_post D K X C s (hard D K X C) in
  let M' := wstep N X C q in
  (forall k j, (k < K)%nat -> M' k j = lloyd_step D N K X C k j) /\
  mstep_var D N K X M' q = sumf N (fun i => dist D X M' i (assign D K X C i)) / (INR N * INR D) /\
  J D N K X M' / INR D <= mstep_var D N K X M' q /\
  (mstep_var D N K X M' q = J D N K X M' / INR D <->
   forall i, (i < N)%nat -> dist D X M' i (assign D K X C i) = mink K (dist D X M' i)).
Proof.
  intros HN HK HD q M'. pose proof (INR_pos N HN). pose proof (INR_pos D HD).
  assert (Hq : forall i k, (k < K)%nat -> q i k = hard D K X C i k) by (intros; apply trunc_post_hard; assumption).
  assert (HM : forall k j, (k < K)%nat -> M' k j = lloyd_step D N K X C k j).
  { intros k j Hk. unfold M', lloyd_step. apply wstep_ext. intros i _. apply Hq, Hk. }
  assert (Hvar : mstep_var D N K X M' q = sumf N (fun i => dist D X M' i (assign D K X C i)) / (INR N * INR D)).
  { unfold mstep_var. f_equal. apply sumf_ext. intros i _.
    rewrite (sumf_ext K _ (fun k => hard D K X C i k * dist D X M' i k)) by (intros k Hk; rewrite Hq by exact Hk; reflexivity).
    apply hard_sum_dist, HK. }
  assert (HJ : J D N K X M' / INR D = sumf N (fun i => mink K (dist D X M' i)) / (INR N * INR D)).
  { unfold J. field. split; lra. }
  assert (Hle : forall i, (i < N)%nat -> mink K (dist D X M' i) <= dist D X M' i (assign D K X C i))
    by (intros; apply mink_le, amin_lt, HK).
  split; [exact HM|split; [exact Hvar|split]].
  - rewrite Hvar, HJ. unfold Rdiv. apply Rmult_le_compat_r; [left; apply Rinv_0_lt_compat; nra|].
    apply sumf_le. exact Hle.
  - rewrite Hvar, HJ. split.
    + intros E i Hi.
      assert (E' : sumf N (fun i => dist D X M' i (assign D K X C i) - mink K (dist D X M' i)) = 0).
      { rewrite sumf_minus. apply (Rmult_eq_reg_r (/ (INR N * INR D))); [|apply Rinv_neq_0_compat; nra].
        unfold Rdiv in E. lra. }
      assert (Hn : forall i, (i < N)%nat -> 0 <= dist D X M' i (assign D K X C i) - mink K (dist D X M' i))
        by (intros i' Hi'; pose proof (Hle i' Hi'); lra).
      pose proof (sumf_zero_nonneg N _ Hn E' i Hi) as Z. cbv beta in Z. lra.
    + intros E. f_equal. apply sumf_ext. intros i Hi. apply E, Hi.
Qed.

(** ** Claim [soft-kmeans-is-em]. *)

(** The full posterior and the mean log-likelihood (1/N) sum_i log sum_k p(x_i, k). *)
Definition posterior (D K : nat) (X C : nat -> nat -> R) (s : R) (i k : nat) : R :=
  exp (log_joint D K s (dist D X C i k)) / sumf K (fun l => exp (log_joint D K s (dist D X C i l))).

Definition log_likelihood (D N K : nat) (X C : nat -> nat -> R) (s : R) : R :=
  sumf N (fun i => ln (sumf K (fun k => exp (log_joint D K s (dist D X C i k))))) / INR N.

Lemma exp_log_joint D K s dk : exp (log_joint D K s dk) =
  exp (- ln (INR K) - INR D / 2 * ln (2 * PI * s)) * exp (- dk / (2 * s)).
Proof. unfold log_joint. rewrite <- exp_plus. f_equal. unfold Rdiv. ring. Qed.

Theorem soft_kmeans_is_em T D N K X C : (0 < N)%nat -> (0 < K)%nat -> 0 < T ->
  (* the E-step at s = T/2 is the softmax responsibilities *)
  (forall i k, (k < K)%nat -> posterior D K X C (T / 2) i k = resp Softmax T D K X C i k) /\
  (* its M-step for the means is the soft step at T *)
  (forall k j, (k < K)%nat -> wstep N X C (posterior D K X C (T / 2)) k j = soft_step Softmax T D N K X C k j) /\
  (* the mean log-likelihood at s = T/2 *)
  log_likelihood D N K X C (T / 2) = - ln (INR K) - INR D / 2 * ln (PI * T) - F Softmax T D N K X C / T.
Proof.
  intros HN HK HT.
  assert (Hpost : forall i k, (k < K)%nat -> posterior D K X C (T / 2) i k = resp Softmax T D K X C i k).
  { intros i k Hk. unfold posterior, resp. cbn [rmap]. unfold softmax.
    rewrite (sumf_ext K (fun l => exp (log_joint D K (T / 2) (dist D X C i l)))
      (fun l => exp (- ln (INR K) - INR D / 2 * ln (2 * PI * (T / 2))) * exp (- dist D X C i l / T)))
      by (intros; rewrite exp_log_joint; f_equal; f_equal; field; lra).
    rewrite sumf_scal, exp_log_joint. replace (- dist D X C i k / (2 * (T / 2))) with (- dist D X C i k / T) by (field; lra).
    field. split; apply Rgt_not_eq; [apply softmax_sum_pos, HK|apply exp_pos]. }
  split; [exact Hpost|split].
  - intros k j Hk. unfold soft_step. apply wstep_ext. intros i _. apply Hpost, Hk.
  - unfold log_likelihood. rewrite F_closed_form by assumption.
    assert (Hc : 0 < 2 * PI * (T / 2)) by (pose proof PI_RGT_0; nra).
    rewrite (sumf_ext N _ (fun i => (- ln (INR K) - INR D / 2 * ln (2 * PI * (T / 2))) +
                                     ln (sumf K (fun l => exp (- dist D X C i l / T))))).
    2:{ intros i _.
        rewrite (sumf_ext K (fun k => exp (log_joint D K (T / 2) (dist D X C i k)))
          (fun l => exp (- ln (INR K) - INR D / 2 * ln (2 * PI * (T / 2))) * exp (- dist D X C i l / T)))
          by (intros; rewrite exp_log_joint; f_equal; f_equal; field; lra).
        rewrite sumf_scal, ln_mult, ln_exp by (try apply exp_pos; apply softmax_sum_pos, HK). reflexivity. }
    rewrite (sumf_ext N (fun i => gval Softmax T K (dist D X C i) (resp Softmax T D K X C i))
      (fun i => - T * ln (sumf K (fun l => exp (- dist D X C i l / T))))) by (intros; apply gval_softmax; assumption).
    rewrite sumf_plus, sumf_const, sumf_scal. replace (2 * PI * (T / 2)) with (PI * T) by field.
    pose proof (INR_pos N HN). field. split; apply Rgt_not_eq; lra.
Qed.

(** "Ascends the log-likelihood exactly as it descends F_T": with the variance held at T/2, a
    soft step changes the log-likelihood by -(1/T) times the change of F_T, so it never
    decreases it (claim soft-step-descent). *)
Corollary soft_kmeans_ascends_likelihood T D N K X C : (0 < N)%nat -> (0 < K)%nat -> 0 < T ->
  let C' := soft_step Softmax T D N K X C in
  log_likelihood D N K X C' (T / 2) - log_likelihood D N K X C (T / 2) =
    (F Softmax T D N K X C - F Softmax T D N K X C') / T /\
  log_likelihood D N K X C (T / 2) <= log_likelihood D N K X C' (T / 2).
Proof.
  intros HN HK HT C'. destruct (soft_kmeans_is_em T D N K X C HN HK HT) as [_ [_ E]].
  destruct (soft_kmeans_is_em T D N K X C' HN HK HT) as [_ [_ E']].
  rewrite E, E'. split; [field; lra|].
  destruct (soft_step_descent Softmax T D N K X C HN HK HT) as [H1 H2]. fold C' in H1, H2.
  assert (0 <= (F Softmax T D N K X C - F Softmax T D N K X C') / T) by (apply Rdiv_le_0_compat; lra).
  replace (- ln (INR K) - INR D / 2 * ln (PI * T) - F Softmax T D N K X C' / T) with
    (- ln (INR K) - INR D / 2 * ln (PI * T) - F Softmax T D N K X C / T + (F Softmax T D N K X C - F Softmax T D N K X C') / T)
    by (field; lra).
  lra.
Qed.

(** ** Claim [annealing-fixed-point]. *)

Theorem annealing_fixed_point T D N K X : (0 < N)%nat -> (0 < K)%nat -> 0 < T ->
  let m := fun j => sumf N (fun i => X i j) / INR N in
  let C := fun (_ : nat) j => m j in
  (forall i k, (k < K)%nat -> resp Softmax T D K X C i k = / INR K) /\
  (forall k j, (k < K)%nat -> soft_step Softmax T D N K X C k j = m j) /\
  (forall k j, (k < K)%nat -> (j < D)%nat -> is_derive (fun v => F Softmax T D N K X (upd C k j v)) (C k j) 0).
Proof.
  intros HN HK HT m C. pose proof (INR_pos N HN). pose proof (INR_pos K HK).
  assert (Hr : forall i k, (k < K)%nat -> resp Softmax T D K X C i k = / INR K).
  { intros i k Hk. apply rmap_equal_row; [exact HK| |exact Hk]. intros l _. reflexivity. }
  split; [exact Hr|split].
  - intros k j Hk. unfold soft_step, wstep, mass.
    rewrite (sumf_ext N (fun i => resp Softmax T D K X C i k) (fun _ => / INR K)) by (intros; apply Hr, Hk).
    rewrite sumf_const. destruct (Rle_dec (INR N * / INR K) 0) as [H1|H1].
    + exfalso. assert (0 < INR N * / INR K) by (apply Rmult_lt_0_compat; [lra|apply Rinv_0_lt_compat; lra]). lra.
    + rewrite (sumf_ext N _ (fun i => / INR K * X i j)) by (intros; rewrite Hr by exact Hk; reflexivity).
      rewrite sumf_scal. unfold m. field. split; lra.
  - intros k j Hk Hj. pose proof (is_derive_F Softmax T D N K X C k j HN HK HT Hk Hj) as H1.
    replace 0 with (2 / INR N * sumf N (fun i => resp Softmax T D K X C i k * (C k j - X i j))); [exact H1|].
    rewrite (sumf_ext N _ (fun i => / INR K * m j - / INR K * X i j)) by (intros; rewrite Hr by exact Hk; unfold C; ring).
    rewrite sumf_minus, sumf_const, sumf_scal. unfold m. field. split; lra.
Qed.
