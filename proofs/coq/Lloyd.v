(** * Descent: Lloyd's step never increases J (claim [lloyd-descent]) and the soft step never
    increases F_T (claim [soft-step-descent]), both by the weighted-mean identity. *)

From Coq Require Import Reals Lra Lia.
From KmeansRBF Require Import Base Sandwich.
Open Scope R_scope.

(** sum_i w_i (x_i - c)^2 = sum_i w_i (x_i - m)^2 + W (c - m)^2, m = sum_i w_i x_i / W. *)
Lemma weighted_mean_identity N (w x : nat -> R) c : 0 < sumf N w ->
  let m := sumf N (fun i => w i * x i) / sumf N w in
  sumf N (fun i => w i * (x i - c) ^ 2) = sumf N (fun i => w i * (x i - m) ^ 2) + sumf N w * (c - m) ^ 2.
Proof.
  intros HW m.
  assert (Hm : sumf N (fun i => w i * x i) = sumf N w * m) by (unfold m; field; lra).
  rewrite (sumf_ext N (fun i => w i * (x i - c) ^ 2)
    (fun i => w i * (x i - m) ^ 2 + (2 * (m - c)) * (w i * x i) - (2 * (m - c) * m) * w i + (c - m) ^ 2 * w i))
    by (intros; ring).
  rewrite !sumf_plus, !sumf_minus, !sumf_plus, !sumf_scal, Hm. ring.
Qed.

Lemma sum_w_dist N D (w : nat -> R) (X : nat -> nat -> R) (c : nat -> R) :
  sumf N (fun i => w i * sumf D (fun j => (X i j - c j) ^ 2)) =
  sumf D (fun j => sumf N (fun i => w i * (X i j - c j) ^ 2)).
Proof.
  rewrite (sumf_ext N _ (fun i => sumf D (fun j => w i * (X i j - c j) ^ 2))) by (intros; rewrite sumf_scal; reflexivity).
  apply sumf_swap.
Qed.

(** The weighted step moves every centre to its weighted mean; for any weights w >= 0,
    sum_i sum_k w_ik d_ik(C) = sum_i sum_k w_ik d_ik(C') + sum_k n_k ||c_k - c'_k||^2. *)
Theorem weighted_step_identity D N K X C w :
  (forall i k, (i < N)%nat -> (k < K)%nat -> 0 <= w i k) ->
  let C' := wstep N X C w in
  sumf N (fun i => sumf K (fun k => w i k * dist D X C i k)) =
  sumf N (fun i => sumf K (fun k => w i k * dist D X C' i k)) +
  sumf K (fun k => mass N w k * dist2 D (C k) (C' k)).
Proof.
  intros Hw C'. rewrite !(sumf_swap N K). rewrite <- sumf_plus. apply sumf_ext. intros k Hk.
  unfold dist, dist2, mass. rewrite !sum_w_dist. rewrite <- sumf_scal, <- sumf_plus. apply sumf_ext. intros j Hj.
  destruct (Rle_dec (sumf N (fun i => w i k)) 0) as [H0|H0].
  - (* no mass: every weight of k is 0 *)
    assert (Hz : forall i, (i < N)%nat -> w i k = 0).
    { apply sumf_zero_nonneg; [intros; apply Hw; assumption|]. apply Rle_antisym; [exact H0|].
      apply sumf_nonneg. intros; apply Hw; assumption. }
    assert (Z : forall f : nat -> R, sumf N (fun i => w i k * f i) = 0).
    { intros f. rewrite <- (sumf_zero N). apply sumf_ext. intros i Hi. rewrite Hz by exact Hi. ring. }
    rewrite (Z (fun i => (X i j - C k j) ^ 2)), (Z (fun i => (X i j - C' k j) ^ 2)).
    replace (sumf N (fun i => w i k)) with 0 by (rewrite <- (sumf_zero N); apply sumf_ext; intros; rewrite Hz; auto).
    ring.
  - assert (HC' : C' k j = sumf N (fun i => w i k * X i j) / sumf N (fun i => w i k)).
    { unfold C', wstep, mass. destruct (Rle_dec _ 0); [contradiction|reflexivity]. }
    rewrite HC'. rewrite (weighted_mean_identity N (fun i => w i k) (fun i => X i j) (C k j)) by lra.
    cbv zeta. ring.
Qed.

(** ** Claim [lloyd-descent]: J(C) - J(C') >= (1/N) sum_k |S_k| ||c_k - c'_k||^2 >= 0. *)

Lemma hard_nonneg D K X C i k : 0 <= hard D K X C i k.
Proof. unfold hard. destruct Nat.eq_dec; lra. Qed.

Lemma hard_sum_dist D K X C C2 i : (0 < K)%nat ->
  sumf K (fun k => hard D K X C i k * dist D X C2 i k) = dist D X C2 i (assign D K X C i).
Proof.
  intros HK. rewrite (sumf_single K (assign D K X C i)).
  - unfold hard. rewrite if_eq. ring.
  - apply amin_lt, HK.
  - intros k _ Hk. unfold hard. destruct (Nat.eq_dec (assign D K X C i) k); [congruence|ring].
Qed.

Theorem lloyd_descent D N K X C : (0 < N)%nat -> (0 < K)%nat ->
  let C' := lloyd_step D N K X C in
  J D N K X C - J D N K X C' >=
    sumf K (fun k => mass N (hard D K X C) k * dist2 D (C k) (C' k)) / INR N /\
  sumf K (fun k => mass N (hard D K X C) k * dist2 D (C k) (C' k)) / INR N >= 0.
Proof.
  intros HN HK C'. pose proof (INR_pos N HN) as HNp.
  pose proof (weighted_step_identity D N K X C (hard D K X C) ltac:(intros; apply hard_nonneg)) as E.
  cbv zeta in E. fold (lloyd_step D N K X C) in E. fold C' in E.
  assert (HJ : J D N K X C = sumf N (fun i => sumf K (fun k => hard D K X C i k * dist D X C i k)) / INR N).
  { unfold J. f_equal. apply sumf_ext. intros i _. rewrite hard_sum_dist by exact HK. reflexivity. }
  assert (HJ' : J D N K X C' <= sumf N (fun i => sumf K (fun k => hard D K X C i k * dist D X C' i k)) / INR N).
  { unfold J. apply mean_le; [exact HN|]. intros i _. rewrite hard_sum_dist by exact HK.
    apply mink_le, amin_lt, HK. }
  assert (Hpos : 0 <= sumf K (fun k => mass N (hard D K X C) k * dist2 D (C k) (C' k))).
  { apply sumf_nonneg. intros k _. apply Rmult_le_pos; [|apply dist2_nonneg].
    apply sumf_nonneg. intros; apply hard_nonneg. }
  split.
  - rewrite HJ. rewrite E in HJ |- *. unfold Rdiv in *. rewrite Rmult_plus_distr_r in *. lra.
  - apply Rle_ge. unfold Rdiv. apply Rmult_le_pos; [exact Hpos|left; apply Rinv_0_lt_compat, HNp].
Qed.

(** ** Claim [soft-step-descent]: F_T(C) - F_T(C') >= (1/N) sum_k n_k ||c_k - c'_k||^2 >= 0,
    both maps, with C' the soft step (a centre with n_k = 0 kept). *)
Theorem soft_step_descent kd T D N K X C : (0 < N)%nat -> (0 < K)%nat -> 0 < T ->
  let C' := soft_step kd T D N K X C in
  F kd T D N K X C - F kd T D N K X C' >=
    sumf K (fun k => mass N (resp kd T D K X C) k * dist2 D (C k) (C' k)) / INR N /\
  sumf K (fun k => mass N (resp kd T D K X C) k * dist2 D (C k) (C' k)) / INR N >= 0.
Proof.
  intros HN HK HT C'. pose proof (INR_pos N HN) as HNp.
  assert (Hr : forall i k, (i < N)%nat -> (k < K)%nat -> 0 <= resp kd T D K X C i k).
  { intros i k _ Hk. apply (rmap_simplex kd K _ HK), Hk. }
  pose proof (weighted_step_identity D N K X C (resp kd T D K X C) Hr) as E.
  cbv zeta in E. fold (soft_step kd T D N K X C) in E. fold C' in E.
  assert (HF : F kd T D N K X C = sumf N (fun i => gval kd T K (dist D X C i) (resp kd T D K X C i)) / INR N)
    by (apply F_closed_form; assumption).
  assert (HF' : F kd T D N K X C' <= sumf N (fun i => gval kd T K (dist D X C' i) (resp kd T D K X C i)) / INR N).
  { unfold F. apply mean_le; [exact HN|]. intros i _. apply free_point_is_minimum; try assumption.
    apply rmap_simplex, HK. }
  assert (Hg : sumf N (fun i => gval kd T K (dist D X C i) (resp kd T D K X C i)) -
               sumf N (fun i => gval kd T K (dist D X C' i) (resp kd T D K X C i)) =
               sumf N (fun i => sumf K (fun k => resp kd T D K X C i k * dist D X C i k)) -
               sumf N (fun i => sumf K (fun k => resp kd T D K X C i k * dist D X C' i k))).
  { rewrite <- !sumf_minus. apply sumf_ext. intros i _. unfold gval. ring. }
  assert (Hpos : 0 <= sumf K (fun k => mass N (resp kd T D K X C) k * dist2 D (C k) (C' k))).
  { apply sumf_nonneg. intros k Hk. apply Rmult_le_pos; [|apply dist2_nonneg].
    apply sumf_nonneg. intros i Hi. apply Hr; assumption. }
  split.
  - rewrite HF. unfold Rdiv in *.
    assert (sumf N (fun i => gval kd T K (dist D X C i) (resp kd T D K X C i)) * / INR N -
            sumf N (fun i => gval kd T K (dist D X C' i) (resp kd T D K X C i)) * / INR N =
            sumf K (fun k => mass N (resp kd T D K X C) k * dist2 D (C k) (C' k)) * / INR N).
    { rewrite <- Rmult_minus_distr_r, Hg, E. ring. }
    lra.
  - apply Rle_ge. unfold Rdiv. apply Rmult_le_pos; [exact Hpos|left; apply Rinv_0_lt_compat, HNp].
Qed.
