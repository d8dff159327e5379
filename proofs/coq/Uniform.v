(** * The softmax excess bound (claim [softmax-excess-bound]) and the sharp uniform
    constants (claim [uniform-rate]).

    The Lambert constant c_K = W((K-1)/e) is characterised, not defined through W: it is
    the unique w > 0 with w e^(w+1) = K - 1 (i.e. w e^w = (K-1)/e, which is W's defining
    equation on the principal branch, w >= 0); [lambert_constant_unique] shows existence
    and uniqueness, and every theorem takes such a w. *)

From Coq Require Import Reals Lra Lia.
From Coquelicot Require Import Coquelicot.
From KmeansRBF Require Import Base Sandwich.
Open Scope R_scope.

(** ** Numerical facts about e, by exact rational arithmetic. *)

Lemma exp_mult_nat n y : exp (INR n * y) = exp y ^ n.
Proof.
  induction n as [|n IH]; [simpl; rewrite Rmult_0_l; apply exp_0|].
  rewrite S_INR, Rmult_plus_distr_r, Rmult_1_l, exp_plus, IH. simpl. ring.
Qed.

(** (1 + x/n)^n <= e^x for x >= 0. *)
Lemma exp_ge_pow n x : (0 < n)%nat -> 0 <= x -> (1 + x / INR n) ^ n <= exp x.
Proof.
  intros Hn Hx. pose proof (INR_pos n Hn).
  replace x with (INR n * (x / INR n)) at 2 by (field; lra). rewrite exp_mult_nat.
  apply pow_incr. split; [apply Rplus_le_le_0_compat; [lra|apply Rdiv_le_0_compat; lra]|].
  apply exp_ineq1_le.
Qed.

(** e^x <= (n/(n - x))^n for 0 <= x < n. *)
Lemma exp_le_pow n x : (0 < n)%nat -> 0 <= x -> x < INR n -> exp x <= (INR n / (INR n - x)) ^ n.
Proof.
  intros Hn Hx Hxn. pose proof (INR_pos n Hn).
  replace x with (INR n * (x / INR n)) at 1 by (field; lra). rewrite exp_mult_nat.
  apply pow_incr. split; [left; apply exp_pos|].
  pose proof (exp_ineq1_le (- (x / INR n))). rewrite exp_Ropp in H0.
  assert (0 < 1 - x / INR n) by (apply Rlt_Rminus; apply (Rmult_lt_reg_r (INR n)); [lra|];
    unfold Rdiv; rewrite Rmult_assoc, Rinv_l; lra).
  replace (INR n / (INR n - x)) with (/ (1 - x / INR n)) by (field; lra).
  rewrite <- (Rinv_inv (exp (x / INR n))).
  apply Rinv_le_contravar; [exact H1|lra].
Qed.

Lemma INR_10 : INR 10 = 10. Proof. simpl. lra. Qed.
Lemma INR_20 : INR 20 = 20. Proof. simpl. lra. Qed.
Lemma INR_100 : INR 100 = 100. Proof. simpl. lra. Qed.
Lemma INR_500 : INR 500 = 500. Proof. simpl. lra. Qed.

Lemma e_gt : 27 / 10 < exp 1.
Proof.
  pose proof (exp_ge_pow 100 1 ltac:(lia) ltac:(lra)).
  rewrite INR_100 in H. lra.
Qed.

Lemma e_lt : exp 1 < 2722 / 1000.
Proof.
  pose proof (exp_le_pow 500 1 ltac:(lia) ltac:(lra)).
  rewrite INR_500 in H.
  pose proof (exp_le_pow 500 1). lra.
Qed.

(** ** The softmax excess per point, in regrets. *)

Lemma softmax_shift K z c k : (0 < K)%nat -> softmax K (fun l => z l + c) k = softmax K z k.
Proof.
  intros HK. unfold softmax. rewrite (sumf_ext K (fun l => exp (z l + c)) (fun l => exp c * exp (z l)))
    by (intros; rewrite exp_plus; ring).
  rewrite sumf_scal, exp_plus. field. split; apply Rgt_not_eq; [apply softmax_sum_pos, HK|apply exp_pos].
Qed.

Lemma softmax_ext K z z' k : (forall l, (l < K)%nat -> z l = z' l) -> (k < K)%nat ->
  softmax K z k = softmax K z' k.
Proof.
  intros H Hk. unfold softmax. rewrite H by exact Hk. f_equal. apply sumf_ext.
  intros l Hl. rewrite H by exact Hl. reflexivity.
Qed.

Lemma sumf_others K j M : (j < K)%nat ->
  sumf K (fun k => if Nat.eq_dec k j then 0 else M) = (INR K - 1) * M.
Proof.
  intros Hj. pose proof (sumf_split K j (fun _ => M) Hj). rewrite sumf_const in H. lra.
Qed.

(** The regrets a_k = d_k - min_l d_l and the excess sum_k r_k d_k - min_k d_k of one row. *)
Definition regret (K : nat) (d : nat -> R) (k : nat) : R := d k - mink K d.

Definition excess (kd : kind) (T : R) (K : nat) (d : nat -> R) : R :=
  sumf K (fun k => rmap kd K (fun l => - d l / T) k * d k) - mink K d.

Lemma regret_nonneg K d k : (k < K)%nat -> 0 <= regret K d k.
Proof. intros Hk. unfold regret. pose proof (mink_le K d k Hk). lra. Qed.

Lemma excess_regret kd T K d : (0 < K)%nat ->
  excess kd T K d = sumf K (fun k => rmap kd K (fun l => - d l / T) k * regret K d k).
Proof.
  intros HK. unfold excess, regret.
  rewrite (sumf_ext K (fun k => rmap kd K (fun l => - d l / T) k * (d k - mink K d))
    (fun k => rmap kd K (fun l => - d l / T) k * d k - rmap kd K (fun l => - d l / T) k * mink K d))
    by (intros; ring).
  rewrite sumf_minus, sumf_scal_r. destruct (rmap_simplex kd K (fun l => - d l / T) HK) as [_ ->]. ring.
Qed.

(** For softmax: excess = sum_k a_k e^(-a_k/T) / sum_k e^(-a_k/T). *)
Lemma softmax_excess_form T K d : (0 < K)%nat -> 0 < T ->
  excess Softmax T K d =
  sumf K (fun k => regret K d k * exp (- regret K d k / T)) / sumf K (fun k => exp (- regret K d k / T)).
Proof.
  intros HK HT. rewrite excess_regret by exact HK. simpl.
  rewrite (sumf_ext K (fun k => softmax K (fun l => - d l / T) k * regret K d k)
    (fun k => softmax K (fun l => - regret K d l / T) k * regret K d k)).
  - unfold softmax, Rdiv. rewrite <- sumf_scal_r. apply sumf_ext. intros; ring.
  - intros k Hk. f_equal. rewrite <- (softmax_shift K (fun l => - regret K d l / T) (- mink K d / T) k HK).
    apply softmax_ext; [|exact Hk]. intros l _. unfold regret. field. lra.
Qed.

(** The per-term bound: (a - w T) e^(-a/T) <= T e^(-(1+w)), equality only at a = T (1 + w). *)
Lemma term_bound T w a : 0 < T -> (a - w * T) * exp (- a / T) <= T * exp (- (1 + w)).
Proof.
  intros HT. set (b := a / T - 1 - w).
  replace (a - w * T) with (T * (b + 1)) by (unfold b; field; lra).
  replace (exp (- a / T)) with (exp (- b) * exp (- (1 + w))) by
    (rewrite <- exp_plus; f_equal; unfold b; field; lra).
  pose proof (exp_ineq1_le b). pose proof (exp_pos (- (1 + w))). pose proof (exp_pos (- b)).
  assert ((b + 1) * exp (- b) <= 1).
  { replace 1 with (exp b * exp (- b)) at 2 by (rewrite <- exp_plus, Rplus_opp_r; apply exp_0).
    apply Rmult_le_compat_r; lra. }
  assert (T * exp (- (1 + w)) * ((b + 1) * exp (- b)) <= T * exp (- (1 + w)) * 1)
    by (apply Rmult_le_compat_l; [apply Rmult_le_pos; lra|exact H2]).
  lra.
Qed.

Lemma term_bound_strict T w a : 0 < T -> a <> T * (1 + w) ->
  (a - w * T) * exp (- a / T) < T * exp (- (1 + w)).
Proof.
  intros HT Ha. set (b := a / T - 1 - w).
  assert (Hb : b <> 0) by (intros E; apply Ha; unfold b in E;
    apply (Rmult_eq_reg_r (/ T)); [|apply Rinv_neq_0_compat; lra]; field_simplify; lra).
  replace (a - w * T) with (T * (b + 1)) by (unfold b; field; lra).
  replace (exp (- a / T)) with (exp (- b) * exp (- (1 + w))) by
    (rewrite <- exp_plus; f_equal; unfold b; field; lra).
  pose proof (exp_ineq1 b Hb). pose proof (exp_pos (- (1 + w))). pose proof (exp_pos (- b)).
  assert ((b + 1) * exp (- b) < 1).
  { replace 1 with (exp b * exp (- b)) at 2 by (rewrite <- exp_plus, Rplus_opp_r; apply exp_0).
    apply Rmult_lt_compat_r; lra. }
  assert (T * exp (- (1 + w)) * ((b + 1) * exp (- b)) < T * exp (- (1 + w)) * 1)
    by (apply Rmult_lt_compat_l; [apply Rmult_lt_0_compat; lra|exact H2]).
  lra.
Qed.

(** Each non-nearest term a e^(-a/T) is at most T/e, with equality at a = T. *)
Lemma regret_term_le T a : 0 < T -> a * exp (- a / T) <= T / exp 1.
Proof.
  intros HT. pose proof (term_bound T 0 a HT). rewrite Rmult_0_l, Rminus_0_r, Rplus_0_r in H.
  rewrite exp_Ropp in H. exact H.
Qed.

Lemma regret_term_at_T T : 0 < T -> T * exp (- T / T) = T / exp 1.
Proof. intros HT. replace (- T / T) with (Ropp 1) by (field; lra). rewrite exp_Ropp. reflexivity. Qed.

(** Aggregation over the row, for any w: with j the nearest centre (a_j = 0),
    sum_k (a_k - w T) e^(-a_k/T) <= -w T + (K - 1) T e^(-(1+w)). *)
Lemma aggregate_bound T K d w : (0 < K)%nat -> 0 < T ->
  sumf K (fun k => (regret K d k - w * T) * exp (- regret K d k / T)) <=
  - w * T + (INR K - 1) * (T * exp (- (1 + w))).
Proof.
  intros HK HT. set (j := amin K d). assert (Hj : (j < K)%nat) by apply amin_lt, HK.
  rewrite (sumf_split K j) by exact Hj.
  assert (Hr : regret K d j = 0) by (unfold regret, mink; fold j; ring).
  rewrite Hr. replace (- 0 / T) with 0 by (field; lra). rewrite exp_0.
  rewrite <- (sumf_others K j (T * exp (- (1 + w))) Hj).
  assert (sumf K (fun i => if Nat.eq_dec i j then 0 else (regret K d i - w * T) * exp (- regret K d i / T))
    <= sumf K (fun k => if Nat.eq_dec k j then 0 else T * exp (- (1 + w)))); [|lra].
  apply sumf_le. intros k _. destruct (Nat.eq_dec k j); [lra|apply term_bound, HT].
Qed.

(** ** Claim [softmax-excess-bound]. *)

Lemma softmax_partition_ge_one T K d : (0 < K)%nat -> 0 < T ->
  1 <= sumf K (fun k => exp (- regret K d k / T)).
Proof.
  intros HK HT. set (j := amin K d).
  assert (Hr : regret K d j = 0) by (unfold regret, mink; fold j; ring).
  replace 1 with (exp (- regret K d j / T)) by (rewrite Hr; replace (- 0 / T) with 0 by (field; lra); apply exp_0).
  apply (sumf_term_le K (fun k => exp (- regret K d k / T))); [intros; left; apply exp_pos|apply amin_lt, HK].
Qed.

Theorem softmax_excess_point T K d : (0 < K)%nat -> 0 < T ->
  excess Softmax T K d <= (INR K - 1) * T / exp 1.
Proof.
  intros HK HT. rewrite softmax_excess_form by assumption.
  pose proof (aggregate_bound T K d 0 HK HT) as A.
  rewrite Rmult_0_l, Rplus_0_r, exp_Ropp in A.
  rewrite (sumf_ext K _ (fun k => regret K d k * exp (- regret K d k / T))) in A by (intros; ring).
  pose proof (softmax_partition_ge_one T K d HK HT) as Z.
  assert (S0 : 0 <= sumf K (fun k => regret K d k * exp (- regret K d k / T))).
  { apply sumf_nonneg. intros k Hk. apply Rmult_le_pos; [apply regret_nonneg, Hk|left; apply exp_pos]. }
  apply Rle_trans with (sumf K (fun k => regret K d k * exp (- regret K d k / T))).
  - unfold Rdiv at 1. rewrite <- (Rmult_1_r (sumf K _)) at 2. apply Rmult_le_compat_l; [exact S0|].
    rewrite <- Rinv_1. apply Rinv_le_contravar; lra.
  - replace ((INR K - 1) * T / exp 1) with (- 0 * T + (INR K - 1) * (T * / exp 1)) by (field; apply Rgt_not_eq, exp_pos).
    lra.
Qed.

Lemma excess_mean kd T D N K X C : (0 < N)%nat ->
  L kd T D N K X C - J D N K X C = sumf N (fun i => excess kd T K (dist D X C i)) / INR N.
Proof.
  intros HN. unfold L, J, excess, resp. rewrite sumf_minus. field. apply Rgt_not_eq, INR_pos, HN.
Qed.

(** L_T - J <= (K - 1) T / e for softmax, every X, C, T > 0. *)
Theorem softmax_excess_bound T D N K X C : (0 < N)%nat -> (0 < K)%nat -> 0 < T ->
  L Softmax T D N K X C - J D N K X C <= (INR K - 1) * T / exp 1.
Proof.
  intros HN HK HT. rewrite excess_mean by exact HN.
  replace ((INR K - 1) * T / exp 1) with (sumf N (fun _ => (INR K - 1) * T / exp 1) / INR N)
    by (rewrite sumf_const; field; split; apply Rgt_not_eq; [apply exp_pos|apply INR_pos, HN]).
  apply mean_le; [exact HN|]. intros i _. apply softmax_excess_point; assumption.
Qed.

(** (K - 1)/e against log K: equal at K = 1, smaller for 2 <= K <= 5, larger for K >= 6. *)

Lemma log_gt_of_exp_lt x y : 0 < y -> exp x < y -> x < ln y.
Proof. intros Hy H. rewrite <- (ln_exp x). apply ln_increasing; [apply exp_pos|exact H]. Qed.

Lemma exp_bound_small k x n nr kr : (0 < n)%nat -> INR n = nr -> INR k = kr -> 0 <= x -> x < nr ->
  (kr - 1) / exp 1 <= x -> (nr / (nr - x)) ^ n < kr ->
  (INR k - 1) / exp 1 < ln (INR k).
Proof.
  intros Hn En Ek Hx Hxn Hle Hpow. rewrite Ek. subst nr. apply log_gt_of_exp_lt.
  - apply Rle_lt_trans with ((INR n / (INR n - x)) ^ n); [|exact Hpow].
    apply pow_le. left. apply Rdiv_lt_0_compat; [apply INR_pos, Hn|lra].
  - apply Rle_lt_trans with (exp x); [|apply Rle_lt_trans with ((INR n / (INR n - x)) ^ n)].
    + destruct (Rle_lt_or_eq_dec _ _ Hle) as [H| ->]; [left; apply exp_increasing, H|right; reflexivity].
    + apply exp_le_pow; assumption.
    + exact Hpow.
Qed.


Lemma pow_bounds :
  (10 / (10 - 10 / 27)) ^ 10 < 2 /\ (10 / (10 - 20 / 27)) ^ 10 < 3 /\
  (10 / (10 - 10 / 9)) ^ 10 < 4 /\ (20 / (20 - 40 / 27)) ^ 20 < 5 /\
  6 < (1 + 2500 / 1361 / 100) ^ 100.
Proof. repeat split; lra. Qed.

Theorem excess_constant_vs_log_K :
  (INR 1 - 1) / exp 1 = ln (INR 1) /\
  (forall K, (2 <= K <= 5)%nat -> (INR K - 1) / exp 1 < ln (INR K)) /\
  (forall K, (6 <= K)%nat -> ln (INR K) < (INR K - 1) / exp 1).
Proof.
  pose proof e_gt. pose proof e_lt. pose proof (exp_pos 1).
  split; [simpl; rewrite ln_1; field; lra|split].
  - intros K HK.
    assert (Hk : (K = 2 \/ K = 3 \/ K = 4 \/ K = 5)%nat) by lia.
    assert (Hd : forall c, 0 <= c -> c / exp 1 <= c * (10 / 27)).
    { intros c Hc. unfold Rdiv. apply Rmult_le_compat_l; [exact Hc|].
      assert (/ exp 1 <= / (27 / 10)) by (apply Rinv_le_contravar; lra).
      replace (/ (27 / 10)) with (10 * / 27) in H2 by field. exact H2. }
    destruct pow_bounds as [P2 [P3 [P4 [P5 _]]]].
    destruct Hk as [ -> | [ -> | [ -> | -> ]]].
    + apply (exp_bound_small 2 (10 / 27) 10 10 2); [lia|apply INR_10|simpl; lra|lra|lra| |exact P2].
      pose proof (Hd 1 ltac:(lra)). lra.
    + apply (exp_bound_small 3 (20 / 27) 10 10 3); [lia|apply INR_10|simpl; lra|lra|lra| |exact P3].
      pose proof (Hd 2 ltac:(lra)). lra.
    + apply (exp_bound_small 4 (10 / 9) 10 10 4); [lia|apply INR_10|simpl; lra|lra|lra| |exact P4].
      pose proof (Hd 3 ltac:(lra)). lra.
    + apply (exp_bound_small 5 (40 / 27) 20 20 5); [lia|apply INR_20|simpl; lra|lra|lra| |exact P5].
      pose proof (Hd 4 ltac:(lra)). lra.
  - intros K HK. induction HK as [|K HK IH].
    + (* K = 6: exp(5/e) >= (1 + (2500/1361)/100)^100 > 6 *)
      replace (INR 6) with 6 by (simpl; lra).
      assert (H5 : 2500 / 1361 <= 5 / exp 1).
      { apply (Rmult_le_reg_r (exp 1)); [lra|].
        replace (5 / exp 1 * exp 1) with 5 by (field; lra). lra. }
      pose proof (exp_ge_pow 100 (2500 / 1361) ltac:(lia) ltac:(lra)) as Hp.
      rewrite INR_100 in Hp.
      destruct pow_bounds as [_ [_ [_ [_ P6]]]].
      assert (6 < exp (5 / exp 1)).
      { apply Rlt_le_trans with (exp (2500 / 1361)); [apply Rlt_le_trans with ((1 + 2500 / 1361 / 100) ^ 100); [exact P6|exact Hp]|].
        destruct (Rle_lt_or_eq_dec _ _ H5) as [Hl|He]; [left; apply exp_increasing, Hl|rewrite He; lra]. }
      replace (6 - 1) with 5 by ring.
      rewrite <- (ln_exp (5 / exp 1)). apply ln_increasing; lra.
    + rewrite S_INR. pose proof (le_INR 6 K HK) as H6. replace (INR 6) with 6 in H6 by (simpl; lra).
      assert (ln (INR K + 1) - ln (INR K) <= / INR K).
      { rewrite <- ln_div by lra. pose proof (ln_le_minus_one ((INR K + 1) / INR K) ltac:(apply Rdiv_lt_0_compat; lra)).
        replace ((INR K + 1) / INR K - 1) with (/ INR K) in H2 by (field; lra). exact H2. }
      assert (/ INR K <= / 6) by (apply Rinv_le_contravar; lra).
      assert (/ 6 < / exp 1) by (apply Rinv_lt_contravar; [apply Rmult_lt_0_compat|]; lra).
      replace ((INR K + 1 - 1) / exp 1) with ((INR K - 1) / exp 1 + / exp 1) by (field; lra).
      lra.
Qed.

(** ** The Lambert constant c_K = W((K-1)/e): the unique w > 0 with w e^(w+1) = K - 1. *)

Lemma lambert_increasing w1 w2 : 0 <= w1 -> w1 < w2 -> w1 * exp (w1 + 1) < w2 * exp (w2 + 1).
Proof.
  intros H1 H2. pose proof (exp_increasing (w1 + 1) (w2 + 1) ltac:(lra)).
  pose proof (exp_pos (w1 + 1)). nra.
Qed.

Theorem lambert_constant_unique K : (2 <= K)%nat ->
  exists w, (0 < w /\ w * exp (w + 1) = INR K - 1) /\
    forall w', 0 < w' /\ w' * exp (w' + 1) = INR K - 1 -> w' = w.
Proof.
  intros HK. assert (Hm : 1 <= INR K - 1) by (pose proof (le_INR 2 K HK); simpl in H; lra).
  assert (Hc : continuity (fun w => w * exp (w + 1) - (INR K - 1))).
  { apply continuity_minus; [|apply continuity_const; intros ??; reflexivity].
    apply continuity_mult; [apply derivable_continuous, derivable_id|].
    apply (continuity_comp (fun w => w + 1) exp).
    - apply continuity_plus; [apply derivable_continuous, derivable_id|apply continuity_const; intros ??; reflexivity].
    - apply derivable_continuous, derivable_exp. }
  destruct (IVT _ 0 (INR K - 1) Hc ltac:(lra)) as [w [Hw E]].
  - rewrite Rmult_0_l. lra.
  - assert (1 < exp (INR K - 1 + 1)) by (rewrite <- exp_0; apply exp_increasing; lra). nra.
  - assert (w <> 0) by (intros ->; rewrite Rmult_0_l in E; lra).
    exists w. split; [split; lra|].
    intros w' [Hw' E']. destruct (Rtotal_order w' w) as [Ho|[Ho|Ho]]; [|exact Ho|].
    + pose proof (lambert_increasing w' w ltac:(lra) Ho). lra.
    + pose proof (lambert_increasing w w' ltac:(lra) Ho). lra.
Qed.

Lemma lambert_identity K w : 0 < w -> w * exp (w + 1) = INR K - 1 ->
  (INR K - 1) * exp (- (1 + w)) = w.
Proof.
  intros Hw E. rewrite <- E. replace (- (1 + w)) with (- (w + 1)) by ring. rewrite exp_Ropp.
  field. apply Rgt_not_eq, exp_pos.
Qed.

Theorem lambert_constant_below_excess_constant K w : 0 < w -> w * exp (w + 1) = INR K - 1 ->
  w < (INR K - 1) / exp 1.
Proof.
  intros Hw E. rewrite <- E. rewrite exp_plus.
  assert (1 < exp w) by (rewrite <- exp_0; apply exp_increasing, Hw).
  pose proof (exp_pos 1). pose proof (exp_pos w).
  replace (w * (exp w * exp 1) / exp 1) with (w * exp w) by (field; lra). nra.
Qed.

(** ** Softmax: the excess of a row is at most w T, with equality exactly when the K - 1
    other centres all have regret T (1 + w). *)

Section SoftmaxSharp.
Variables (T : R) (K : nat) (w : R).
Hypotheses (HT : 0 < T) (HK : (2 <= K)%nat) (Hw : 0 < w) (HwK : w * exp (w + 1) = INR K - 1).

Let HK0 : (0 < K)%nat. Proof. lia. Qed.

Lemma softmax_sharp_point d : excess Softmax T K d <= w * T.
Proof.
  rewrite softmax_excess_form by (exact HK0 || exact HT).
  pose proof (aggregate_bound T K d w HK0 HT) as A.
  replace ((INR K - 1) * (T * exp (- (1 + w)))) with (T * ((INR K - 1) * exp (- (1 + w)))) in A by ring.
  rewrite (lambert_identity K w Hw HwK) in A.
  rewrite (sumf_ext K _ (fun k => regret K d k * exp (- regret K d k / T) - w * T * exp (- regret K d k / T))) in A
    by (intros; ring).
  rewrite sumf_minus, sumf_scal in A.
  pose proof (softmax_partition_ge_one T K d HK0 HT) as Z.
  apply (Rmult_le_reg_r (sumf K (fun k => exp (- regret K d k / T)))); [lra|].
  unfold Rdiv. rewrite Rmult_assoc, Rinv_l by lra. lra.
Qed.

Lemma softmax_sharp_point_eq d : excess Softmax T K d = w * T ->
  forall k, (k < K)%nat -> k <> amin K d -> d k - d (amin K d) = T * (1 + w).
Proof.
  intros E k Hk Hkj. set (j := amin K d) in *. assert (Hj : (j < K)%nat) by apply amin_lt, HK0.
  rewrite softmax_excess_form in E by (exact HK0 || exact HT).
  pose proof (softmax_partition_ge_one T K d HK0 HT) as Z.
  set (Zs := sumf K (fun k => exp (- regret K d k / T))) in *.
  assert (E2 : sumf K (fun k => (regret K d k - w * T) * exp (- regret K d k / T)) = 0).
  { rewrite (sumf_ext K _ (fun k => regret K d k * exp (- regret K d k / T) - w * T * exp (- regret K d k / T)))
      by (intros; ring).
    rewrite sumf_minus, sumf_scal. fold Zs. rewrite <- E. field. lra. }
  rewrite (sumf_split K j) in E2 by exact Hj.
  assert (Hr : regret K d j = 0) by (unfold regret, mink; fold j; ring).
  rewrite Hr in E2. replace (- 0 / T) with 0 in E2 by (field; lra). rewrite exp_0 in E2.
  set (M := T * exp (- (1 + w))).
  assert (HM : (INR K - 1) * M = w * T).
  { unfold M. replace ((INR K - 1) * (T * exp (- (1 + w)))) with (T * ((INR K - 1) * exp (- (1 + w)))) by ring.
    rewrite (lambert_identity K w Hw HwK). ring. }
  (* the other terms sum to (K - 1) M and each is at most M: each equals M *)
  assert (Hs : sumf K (fun i => (if Nat.eq_dec i j then 0 else M) -
                     (if Nat.eq_dec i j then 0 else (regret K d i - w * T) * exp (- regret K d i / T))) = 0).
  { rewrite sumf_minus, sumf_others by exact Hj. lra. }
  assert (Hn : forall i, (i < K)%nat -> 0 <= (if Nat.eq_dec i j then 0 else M) -
                     (if Nat.eq_dec i j then 0 else (regret K d i - w * T) * exp (- regret K d i / T))).
  { intros i _. destruct (Nat.eq_dec i j); [lra|]. pose proof (term_bound T w (regret K d i) HT). unfold M. lra. }
  pose proof (sumf_zero_nonneg K _ Hn Hs k Hk) as Hk0. cbv beta in Hk0.
  destruct (Nat.eq_dec k j) as [|_]; [contradiction|].
  destruct (Req_EM_T (regret K d k) (T * (1 + w))) as [Eq|Ne].
  - unfold regret, mink in Eq. fold j in Eq. exact Eq.
  - pose proof (term_bound_strict T w (regret K d k) HT Ne). unfold M in Hk0. lra.
Qed.

(** A row with one nearest centre j and all others at regret T (1 + w) has excess w T. *)
Lemma softmax_sharp_point_attained d j : (j < K)%nat ->
  (forall k, (k < K)%nat -> k <> j -> d k - d j = T * (1 + w)) -> excess Softmax T K d = w * T.
Proof.
  intros Hj H. assert (Hmin : mink K d = d j).
  { apply mink_of_min; [exact Hj|]. intros k Hk. destruct (Nat.eq_dec k j) as [->|Hne]; [lra|].
    specialize (H k Hk Hne). nra. }
  assert (Hreg : forall k, (k < K)%nat -> regret K d k = if Nat.eq_dec k j then 0 else T * (1 + w)).
  { intros k Hk. unfold regret. rewrite Hmin. destruct (Nat.eq_dec k j) as [->|Hne]; [ring|apply H; assumption]. }
  rewrite softmax_excess_form by (exact HK0 || exact HT).
  rewrite (sumf_ext K _ (fun k => if Nat.eq_dec k j then 0 else T * (1 + w) * exp (- (1 + w))))
    by (intros k Hk; rewrite Hreg by exact Hk; destruct (Nat.eq_dec k j); [ring|f_equal; f_equal; field; lra]).
  rewrite (sumf_split K j (fun k => exp (- regret K d k / T))) by exact Hj.
  rewrite (sumf_ext K (fun i => if Nat.eq_dec i j then 0 else exp (- regret K d i / T))
                     (fun i => if Nat.eq_dec i j then 0 else exp (- (1 + w))))
    by (intros k Hk; rewrite Hreg by exact Hk; destruct (Nat.eq_dec k j); [reflexivity|f_equal; field; lra]).
  rewrite !sumf_others by exact Hj. rewrite Hreg, (if_eq j) by exact Hj.
  replace (- 0 / T) with 0 by (field; lra). rewrite exp_0.
  pose proof (lambert_identity K w Hw HwK) as I.
  replace ((INR K - 1) * (T * (1 + w) * exp (- (1 + w)))) with (T * (1 + w) * ((INR K - 1) * exp (- (1 + w)))) by ring.
  replace (1 + (INR K - 1) * exp (- (1 + w))) with (1 + w) by lra. rewrite I. field. lra.
Qed.

End SoftmaxSharp.

(** ** From rows to data sets. *)

Lemma rmap_ext kd K z z' k : (forall l, (l < K)%nat -> z l = z' l) -> (k < K)%nat ->
  rmap kd K z k = rmap kd K z' k.
Proof.
  intros H Hk. destruct kd; simpl; [apply softmax_ext; assumption|].
  unfold entmax. rewrite (tau_ext K (fun l => z l / 2) (fun l => z' l / 2))
    by (intros l Hl; rewrite H by exact Hl; reflexivity).
  rewrite H by exact Hk. reflexivity.
Qed.

Lemma excess_ext kd T K d d' : (0 < K)%nat -> (forall k, (k < K)%nat -> d k = d' k) ->
  excess kd T K d = excess kd T K d'.
Proof.
  intros HK H. unfold excess. rewrite (mink_ext K d d' H HK). f_equal. apply sumf_ext.
  intros k Hk. rewrite H by exact Hk. f_equal. apply rmap_ext; [|exact Hk].
  intros l Hl. rewrite H by exact Hl. reflexivity.
Qed.

Lemma excess_nonneg kd T K d : (0 < K)%nat -> 0 < T -> 0 <= excess kd T K d.
Proof. intros HK HT. unfold excess. pose proof (point_J_le_L kd T K d HK). lra. Qed.

Lemma excess_lt_hmax kd T K d : (2 <= K)%nat -> 0 < T -> excess kd T K d < T * hmax kd K.
Proof. intros HK HT. unfold excess. pose proof (point_L_lt kd T K d HK HT). lra. Qed.

(** The row (0, a, ..., a): one centre at the point, the K - 1 others at squared distance a. *)
Definition spike_row (a : R) (k : nat) : R := if Nat.eq_dec k O then 0 else a.

(** Centres realising it at the first data point: c_0 = x_0, c_k = x_0 + sqrt(a) e_1. *)
Definition spike (X : nat -> nat -> R) (a : R) (k j : nat) : R :=
  X O j + (if Nat.eq_dec k O then 0 else if Nat.eq_dec j O then sqrt a else 0).

Lemma spike_dist D X a i k : (0 < D)%nat -> 0 <= a -> (forall j, (j < D)%nat -> X i j = X O j) ->
  dist D X (spike X a) i k = spike_row a k.
Proof.
  intros HD Ha Hx. unfold dist, dist2, spike, spike_row.
  rewrite (sumf_ext D _ (fun j => (if Nat.eq_dec k O then 0 else if Nat.eq_dec j O then sqrt a else 0) ^ 2))
    by (intros j Hj; rewrite Hx by exact Hj; ring).
  destruct (Nat.eq_dec k O).
  - rewrite (sumf_ext D _ (fun _ => 0)) by (intros; ring). apply sumf_zero.
  - rewrite (sumf_single D O); [rewrite if_eq; apply pow2_sqrt, Ha|exact HD|].
    intros j _ Hj. destruct (Nat.eq_dec j O); [lia|ring].
Qed.

Section Spike.
Variables (kd : kind) (T : R) (D N K : nat) (X : nat -> nat -> R) (a v : R).
Hypotheses (HN : (0 < N)%nat) (HD : (0 < D)%nat) (HK : (0 < K)%nat) (HT : 0 < T) (Ha : 0 <= a)
  (Hv : excess kd T K (spike_row a) = v).

Lemma spike_lower : v / INR N <= L kd T D N K X (spike X a) - J D N K X (spike X a).
Proof.
  rewrite excess_mean by exact HN. apply Rmult_le_compat_r; [left; apply Rinv_0_lt_compat, INR_pos, HN|].
  rewrite (sumf_split N O) by exact HN.
  rewrite (excess_ext kd T K _ (spike_row a) HK) by (intros; apply spike_dist; auto).
  rewrite Hv. assert (0 <= sumf N (fun i => if Nat.eq_dec i O then 0 else excess kd T K (dist D X (spike X a) i)));
    [|lra].
  apply sumf_nonneg. intros i _. destruct (Nat.eq_dec i O); [lra|apply excess_nonneg; assumption].
Qed.

Lemma spike_coincident : (forall i j, (i < N)%nat -> (j < D)%nat -> X i j = X O j) ->
  L kd T D N K X (spike X a) - J D N K X (spike X a) = v.
Proof.
  intros Hx. rewrite excess_mean by exact HN.
  rewrite (sumf_ext N _ (fun _ => v)).
  - rewrite sumf_const. field. apply Rgt_not_eq, INR_pos, HN.
  - intros i Hi. rewrite <- Hv. apply excess_ext; [exact HK|]. intros k _. apply spike_dist; auto.
Qed.

End Spike.

(** ** Claim [uniform-rate], softmax. *)

Theorem softmax_excess_sharp_iff T K w d : 0 < T -> (2 <= K)%nat -> 0 < w -> w * exp (w + 1) = INR K - 1 ->
  (excess Softmax T K d = w * T <->
   exists j, (j < K)%nat /\ forall k, (k < K)%nat -> k <> j -> d k - d j = T * (1 + w)).
Proof.
  intros HT HK Hw HwK. split.
  - intros E. exists (amin K d). split; [apply amin_lt; lia|].
    intros k Hk Hne. apply (softmax_sharp_point_eq T K w); assumption.
  - intros [j [Hj H]]. apply (softmax_sharp_point_attained T K w HT HK Hw HwK d j Hj H).
Qed.

Theorem uniform_rate_softmax T D N K X w :
  (0 < N)%nat -> (0 < D)%nat -> (2 <= K)%nat -> 0 < T -> 0 < w -> w * exp (w + 1) = INR K - 1 ->
  (* (a) sup_C (J - F_T) = T log K, attained at coincident centres *)
  (forall C, J D N K X C - F Softmax T D N K X C <= T * ln (INR K)) /\
  (exists C, J D N K X C - F Softmax T D N K X C = T * ln (INR K)) /\
  (* (b) L_T - J <= c_K T *)
  (forall C, L Softmax T D N K X C - J D N K X C <= w * T) /\
  (* (c) c_K T / N <= sup_C (L_T - J), with equality c_K T when all points coincide *)
  (exists C, w * T / INR N <= L Softmax T D N K X C - J D N K X C) /\
  ((forall i j, (i < N)%nat -> (j < D)%nat -> X i j = X O j) ->
     exists C, L Softmax T D N K X C - J D N K X C = w * T) /\
  (* c_K < min(log K, (K - 1)/e) *)
  w < ln (INR K) /\ w < (INR K - 1) / exp 1.
Proof.
  intros HN HD HK HT Hw HwK. assert (HK0 : (0 < K)%nat) by lia.
  assert (Ha : 0 <= T * (1 + w)) by (apply Rmult_le_pos; lra).
  assert (Hv : excess Softmax T K (spike_row (T * (1 + w))) = w * T).
  { apply (softmax_sharp_point_attained T K w HT HK Hw HwK _ O HK0). intros k _ Hk.
    unfold spike_row. rewrite if_eq. destruct (Nat.eq_dec k O); [lia|ring]. }
  repeat split.
  - intros C. destruct (sandwich Softmax T D N K X C HN HK0 HT) as [H _]. simpl in H. lra.
  - exists (fun _ j => X O j).
    rewrite (sandwich_lower_bound_at_coincident_centres Softmax T D N K X _ HN HK0 HT) by reflexivity.
    simpl. ring.
  - intros C. rewrite excess_mean by exact HN.
    replace (w * T) with (sumf N (fun _ => w * T) / INR N)
      by (rewrite sumf_const; field; apply Rgt_not_eq, INR_pos, HN).
    apply mean_le; [exact HN|]. intros i _. apply softmax_sharp_point; assumption.
  - exists (spike X (T * (1 + w))). apply (spike_lower Softmax T D N K X _ _ HN HD HK0 HT Ha Hv).
  - intros Hx. exists (spike X (T * (1 + w))). apply (spike_coincident Softmax T D N K X _ _ HN HD HK0 Ha Hv Hx).
  - pose proof (excess_lt_hmax Softmax T K (spike_row (T * (1 + w))) HK HT). rewrite Hv in H. simpl in H.
    apply (Rmult_lt_reg_r T); [exact HT|]. lra.
  - apply lambert_constant_below_excess_constant; assumption.
Qed.

(** ** The entmax-1.5 constant. *)

(** The registry's closed forms, with m = K - 1:
    y = (9 + 12 m - 3 sqrt(9 + 8 m)) / (18 m (m + 1)),
    c_K = 2 m y (sqrt(1 - m y) - sqrt y), t_K = 2 (sqrt(1 - m y) - sqrt y). *)
Definition ent_y (m : R) : R := (9 + 12 * m - 3 * sqrt (9 + 8 * m)) / (18 * m * (m + 1)).
Definition cK_entmax (K : nat) : R :=
  let m := INR K - 1 in 2 * m * ent_y m * (sqrt (1 - m * ent_y m) - sqrt (ent_y m)).
Definition tK_entmax (K : nat) : R :=
  let m := INR K - 1 in 2 * (sqrt (1 - m * ent_y m) - sqrt (ent_y m)).

(** The ratio t = (3 + sqrt(9 + 8 m))/4 of the optimal weights: 2 t^2 - 3 t = m and
    y 3 t (t - 1) = 1, so sqrt(1 - m y) = t sqrt y. *)
Definition ent_t (m : R) : R := (3 + sqrt (9 + 8 * m)) / 4.

Section EntmaxConstant.
Variable m : R.
Hypothesis Hm : 0 < m.
Let R8 := sqrt (9 + 8 * m).
Let t := ent_t m.
Let y := ent_y m.

Lemma R8_sq : R8 * R8 = 9 + 8 * m.
Proof. apply sqrt_sqrt. lra. Qed.

Lemma R8_gt : 3 < R8.
Proof.
  unfold R8. rewrite <- (sqrt_square 3) by lra. apply sqrt_lt_1_alt. lra.
Qed.

Lemma t_gt_one : 1 < t.
Proof. pose proof R8_gt. unfold t, ent_t. fold R8. lra. Qed.

Lemma t_quadratic : m = 2 * t ^ 2 - 3 * t.
Proof. pose proof R8_sq. unfold t, ent_t. fold R8. nra. Qed.

Lemma y_times : y * (3 * t * (t - 1)) = 1.
Proof.
  pose proof R8_sq as S. pose proof R8_gt.
  unfold y, t, ent_y, ent_t. fold R8.
  assert (E : (9 + 12 * m - 3 * R8) * ((3 + R8) * (R8 - 1)) = 96 * m * (m + 1)).
  { assert (R8 * R8 * R8 = R8 * (9 + 8 * m)) by (rewrite S; ring).
    assert (m * (R8 * R8) = m * (9 + 8 * m)) by (rewrite S; ring). nra. }
  apply (Rmult_eq_reg_r (18 * m * (m + 1) * 16)); [|apply Rgt_not_eq; nra].
  field_simplify; [|nra]. nra.
Qed.

Lemma y_pos : 0 < y.
Proof.
  pose proof y_times. pose proof t_gt_one.
  assert (0 < 3 * t * (t - 1)) by nra. nra.
Qed.

Lemma one_minus_my : 1 - m * y = t ^ 2 * y.
Proof. pose proof y_times. rewrite t_quadratic. nra. Qed.

Lemma alpha_eq : sqrt (1 - m * y) = t * sqrt y.
Proof.
  rewrite one_minus_my, sqrt_mult_alt by (pose proof t_gt_one; nra).
  rewrite sqrt_pow2 by (pose proof t_gt_one; lra). reflexivity.
Qed.

(** The key inequality: for a, b >= 0 with a^2 + m b^2 = 1,
    b^2 (a - b) <= y (sqrt(1 - m y) - sqrt y), with equality only at a = sqrt(1 - m y),
    b = sqrt y. With beta = sqrt y: the right side is beta^3 (t - 1), whose square is
    1 / (27 t^3 (t - 1)); the left side's square times 27 t^3 (t - 1) is 27 A^2 C with
    A = t (a - b) b, C = t (t - 1) b^2, and 27 A^2 C <= (2A + C)^3 <= (a^2 + m b^2)^3. *)
Lemma entmax_key a b : 0 <= a -> 0 <= b -> a ^ 2 + m * b ^ 2 = 1 ->
  b ^ 2 * (a - b) <= y * (sqrt (1 - m * y) - sqrt y) /\
  (b ^ 2 * (a - b) = y * (sqrt (1 - m * y) - sqrt y) -> a = sqrt (1 - m * y) /\ b = sqrt y).
Proof.
  intros Ha Hb Hab. pose proof t_gt_one as Ht. pose proof y_times as Hy. pose proof y_pos as Hy0.
  rewrite alpha_eq. set (beta := sqrt y).
  assert (Hb2 : beta ^ 2 = y) by (apply pow2_sqrt; lra).
  assert (Hbeta : 0 < beta) by (apply sqrt_lt_R0, Hy0).
  replace y with (beta ^ 2) by exact Hb2.
  assert (Hm' : m = 2 * t ^ 2 - 3 * t) by apply t_quadratic.
  rewrite Hm' in Hab.
  set (A := t * (a - b) * b). set (C := t * (t - 1) * b ^ 2). set (S := 2 * A + C).
  assert (HS : a ^ 2 + (2 * t ^ 2 - 3 * t) * b ^ 2 = S + (a - t * b) ^ 2) by (unfold S, A, C; ring).
  assert (HAC : S ^ 3 - 27 * A ^ 2 * C = (A - C) ^ 2 * (8 * A + C)) by (unfold S; ring).
  assert (H27 : 27 * A ^ 2 * C = 27 * t ^ 3 * (t - 1) * (b ^ 2 * (a - b)) ^ 2) by (unfold A, C; ring).
  assert (Hopt : (beta ^ 2 * (t * beta - beta)) ^ 2 * (27 * t ^ 3 * (t - 1)) = 1).
  { replace ((beta ^ 2 * (t * beta - beta)) ^ 2 * (27 * t ^ 3 * (t - 1)))
      with ((beta ^ 2 * (3 * t * (t - 1))) ^ 3) by ring.
    rewrite Hb2, Hy. ring. }
  assert (Hrhs : 0 < beta ^ 2 * (t * beta - beta)).
  { apply Rmult_lt_0_compat; [apply pow_lt, Hbeta|nra]. }
  assert (Hk : 0 < 27 * t ^ 3 * (t - 1)).
  { assert (0 < t ^ 3) by (apply pow_lt; lra). nra. }
  destruct (Rle_lt_dec a b) as [Hle|Hlt].
  - split.
    + assert (b ^ 2 * (a - b) <= 0) by (assert (0 <= b ^ 2) by apply pow2_ge_0; nra). lra.
    + intros E. exfalso. assert (b ^ 2 * (a - b) <= 0) by (assert (0 <= b ^ 2) by apply pow2_ge_0; nra). lra.
  - assert (HA : 0 <= A) by (unfold A; apply Rmult_le_pos; [apply Rmult_le_pos|]; lra).
    assert (HC : 0 <= C) by (unfold C; apply Rmult_le_pos; [|apply pow2_ge_0]; nra).
    assert (HS0 : 0 <= S) by (unfold S; lra).
    assert (HS1 : S <= 1) by (pose proof (pow2_ge_0 (a - t * b)); lra).
    assert (HS3 : S ^ 3 <= 1) by (assert (S ^ 2 <= 1) by nra; nra).
    assert (H8 : 0 <= (A - C) ^ 2 * (8 * A + C)) by (apply Rmult_le_pos; [apply pow2_ge_0|lra]).
    assert (Hsq : (b ^ 2 * (a - b)) ^ 2 * (27 * t ^ 3 * (t - 1)) <= 1) by nra.
    assert (Hl0 : 0 <= b ^ 2 * (a - b)) by (apply Rmult_le_pos; [apply pow2_ge_0|lra]).
    split.
    + destruct (Rle_lt_dec (b ^ 2 * (a - b)) (beta ^ 2 * (t * beta - beta))) as [|Hgt]; [assumption|].
      exfalso. assert ((beta ^ 2 * (t * beta - beta)) ^ 2 < (b ^ 2 * (a - b)) ^ 2) by nra. nra.
    + intros E. rewrite E in Hsq, H27.
      assert (H1 : 27 * A ^ 2 * C = 1) by (rewrite H27; lra).
      assert (HS' : S = 1) by nra.
      assert (Hat : a = t * b).
      { assert ((a - t * b) ^ 2 = 0) by lra.
        destruct (Req_EM_T a (t * b)) as [|Hne]; [assumption|].
        exfalso. apply (pow_nonzero (a - t * b) 2); [lra|assumption]. }
      assert (Hbb : b ^ 2 * (3 * t * (t - 1)) = 1).
      { rewrite Hat in Hab. replace (b ^ 2 * (3 * t * (t - 1))) with ((t * b) ^ 2 + (2 * t ^ 2 - 3 * t) * b ^ 2)
          by ring. exact Hab. }
      assert (Hbeq : b = beta).
      { assert (b ^ 2 = beta ^ 2) by (rewrite Hb2; nra).
        assert ((b - beta) * (b + beta) = 0) by nra.
        destruct (Rmult_integral _ _ H0); lra. }
      split; [rewrite Hat, Hbeq; reflexivity|exact Hbeq].
Qed.

End EntmaxConstant.

(** ** Entmax-1.5: the excess of a row in terms of rho_k = sqrt r_k. *)

Section EntmaxRow.
Variables (T : R) (K : nat) (d : nat -> R).
Hypotheses (HT : 0 < T) (HK : (0 < K)%nat).

Let u := fun l => (- d l / T) / 2.
Let tau0 := tau K u.
Let rho := fun k => pos (u k - tau0).
Let j := amin K d.

Lemma ent_r k : entmax K (fun l => - d l / T) k = rho k ^ 2.
Proof. reflexivity. Qed.

Lemma ent_j_lt : (j < K)%nat.
Proof. apply amin_lt, HK. Qed.

Lemma ent_u_le k : (k < K)%nat -> u k <= u j.
Proof.
  intros Hk. pose proof (amin_le K d k Hk). fold j in H. unfold u.
  apply Rmult_le_compat_r; [lra|]. unfold Rdiv. apply Rmult_le_compat_r; [left; apply Rinv_0_lt_compat, HT|lra].
Qed.

Lemma ent_rho_j : rho j = u j - tau0 /\ 0 < u j - tau0.
Proof.
  assert (tau0 < u j).
  { apply Rlt_le_trans with (maxk K u); [apply tau_lt_max, HK|].
    destruct (maxk_attained K u HK) as [k [Hk E]]. rewrite <- E. apply ent_u_le, Hk. }
  unfold rho. rewrite pos_of_nonneg by lra. split; [reflexivity|lra].
Qed.

Lemma ent_sum_sq : sumf K (fun k => rho k ^ 2) = 1.
Proof. exact (entmax_sum K (fun l => - d l / T) HK). Qed.

Lemma ent_term k : (k < K)%nat ->
  entmax K (fun l => - d l / T) k * regret K d k = 2 * T * (rho k ^ 2 * rho j - rho k ^ 3).
Proof.
  intros Hk. rewrite ent_r. destruct ent_rho_j as [Ej Hj0].
  assert (Hreg : regret K d k = 2 * T * (u j - u k)) by (unfold regret, mink, u; fold j; field; lra).
  rewrite Hreg, Ej. unfold rho. destruct (Rle_dec 0 (u k - tau0)) as [H|H].
  - rewrite pos_of_nonneg by exact H. ring.
  - rewrite pos_of_nonpos by lra. ring.
Qed.

(** excess = 2 T (rho_j - sum_k rho_k^3). *)
Lemma ent_excess : excess Entmax15 T K d = 2 * T * (rho j - sumf K (fun k => rho k ^ 3)).
Proof.
  rewrite excess_regret by exact HK. cbn [rmap].
  rewrite (sumf_ext K _ (fun k => 2 * T * (rho k ^ 2 * rho j - rho k ^ 3))) by (intros; apply ent_term; assumption).
  rewrite sumf_scal, sumf_minus, sumf_scal_r, ent_sum_sq. ring.
Qed.

Lemma ent_split_sq : rho j ^ 2 + sumf K (fun k => if Nat.eq_dec k j then 0 else rho k ^ 2) = 1.
Proof. pose proof ent_sum_sq as S. rewrite (sumf_split K j _ ent_j_lt) in S. exact S. Qed.

Lemma ent_split_cube : sumf K (fun k => rho k ^ 3) =
  rho j ^ 3 + sumf K (fun k => if Nat.eq_dec k j then 0 else rho k ^ 3).
Proof. exact (sumf_split K j (fun k => rho k ^ 3) ent_j_lt). Qed.

(** The power-mean step: with q = 1 - rho_j^2 and v = sqrt(q/m), m = K - 1,
    sum_{k <> j} rho_k^3 >= m v^3, each term by the tangent line at v. *)
Lemma ent_power_mean (v : R) : 0 <= v -> (INR K - 1) * v ^ 2 = 1 - rho j ^ 2 ->
  (INR K - 1) * v ^ 3 <= sumf K (fun k => if Nat.eq_dec k j then 0 else rho k ^ 3) /\
  sumf K (fun k => if Nat.eq_dec k j then 0 else
     rho k ^ 3 - (v ^ 3 + 3 / 2 * v * (rho k ^ 2 - v ^ 2))) =
  sumf K (fun k => if Nat.eq_dec k j then 0 else rho k ^ 3) - (INR K - 1) * v ^ 3.
Proof.
  intros Hv Hq. pose proof ent_split_sq as S.
  assert (E : sumf K (fun k => if Nat.eq_dec k j then 0 else
     rho k ^ 3 - (v ^ 3 + 3 / 2 * v * (rho k ^ 2 - v ^ 2))) =
     sumf K (fun k => if Nat.eq_dec k j then 0 else rho k ^ 3)
     - sumf K (fun k => if Nat.eq_dec k j then 0 else - (1 / 2) * v ^ 3)
     - 3 / 2 * v * sumf K (fun k => if Nat.eq_dec k j then 0 else rho k ^ 2)).
  { rewrite <- sumf_scal, <- !sumf_minus. apply sumf_ext. intros k _.
    destruct (Nat.eq_dec k j); field. }
  rewrite sumf_others in E by apply ent_j_lt.
  assert (E2 : sumf K (fun k => if Nat.eq_dec k j then 0 else rho k ^ 3 - (v ^ 3 + 3 / 2 * v * (rho k ^ 2 - v ^ 2)))
    = sumf K (fun k => if Nat.eq_dec k j then 0 else rho k ^ 3) - (INR K - 1) * v ^ 3).
  { rewrite E. replace (sumf K (fun k => if Nat.eq_dec k j then 0 else rho k ^ 2)) with ((INR K - 1) * v ^ 2) by lra.
    field. }
  split; [|exact E2].
  assert (0 <= sumf K (fun k => if Nat.eq_dec k j then 0 else
     rho k ^ 3 - (v ^ 3 + 3 / 2 * v * (rho k ^ 2 - v ^ 2)))); [|lra].
  apply sumf_nonneg. intros k _. destruct (Nat.eq_dec k j); [lra|].
  pose proof (cube_tangent (rho k) v (pos_nonneg _) Hv). lra.
Qed.


Lemma ent_excess_sharp : (2 <= K)%nat ->
  excess Entmax15 T K d <= cK_entmax K * T /\
  (excess Entmax15 T K d = cK_entmax K * T ->
     forall k, (k < K)%nat -> k <> j -> d k - d j = T * tK_entmax K).
Proof.
  intros HK2. set (m := INR K - 1).
  assert (Hm : 1 <= m) by (unfold m; pose proof (le_INR 2 K HK2); simpl in H; lra).
  pose proof ent_split_sq as S. set (q := sumf K (fun k => if Nat.eq_dec k j then 0 else rho k ^ 2)) in S.
  assert (Hq : 0 <= q) by (apply sumf_nonneg; intros k _; destruct (Nat.eq_dec k j); [lra|apply pow2_ge_0]).
  set (v := sqrt (q / m)).
  assert (Hv : 0 <= v) by apply sqrt_pos.
  assert (Hmv : m * v ^ 2 = 1 - rho j ^ 2).
  { unfold v. rewrite pow2_sqrt by (apply Rdiv_le_0_compat; lra). field_simplify; lra. }
  destruct (ent_power_mean v Hv Hmv) as [PM PMeq]. fold m in PM, PMeq.
  destruct ent_rho_j as [Ej Hj0].
  destruct (entmax_key m ltac:(lra) (rho j) v ltac:(rewrite Ej; lra) Hv ltac:(lra)) as [Key KeyEq].
  set (Y := ent_y m * (sqrt (1 - m * ent_y m) - sqrt (ent_y m))) in Key, KeyEq.
  assert (Hc : cK_entmax K = 2 * m * Y) by (unfold cK_entmax, Y; fold m; ring).
  rewrite ent_excess, ent_split_cube, Hc.
  assert (Halg : rho j - (rho j ^ 3 + m * v ^ 3) = m * (v ^ 2 * (rho j - v))).
  { replace (rho j - (rho j ^ 3 + m * v ^ 3)) with (rho j * (1 - rho j ^ 2) - m * v ^ 3) by ring.
    rewrite <- Hmv. ring. }
  assert (Hmk : m * (v ^ 2 * (rho j - v)) <= m * Y) by (apply Rmult_le_compat_l; lra).
  split.
  - assert (2 * T * (rho j - (rho j ^ 3 + sumf K (fun k => if Nat.eq_dec k j then 0 else rho k ^ 3)))
            <= 2 * T * (m * Y)); [|lra].
    apply Rmult_le_compat_l; lra.
  - intros E k Hk Hkj.
    assert (E1 : m * (v ^ 2 * (rho j - v)) = m * Y).
    { apply Rle_antisym; [exact Hmk|].
      assert (2 * T * (m * Y) <= 2 * T * (m * (v ^ 2 * (rho j - v)))); [|nra].
      rewrite <- Halg. replace (2 * T * (m * Y)) with (2 * m * Y * T) by ring. rewrite <- E.
      apply Rmult_le_compat_l; lra. }
    assert (E2 : v ^ 2 * (rho j - v) = Y) by (apply (Rmult_eq_reg_l m); [exact E1|lra]).
    destruct (KeyEq E2) as [Ea Eb].
    assert (Hy0 : 0 < ent_y m) by (apply y_pos; lra).
    assert (Hvpos : 0 < v) by (rewrite Eb; apply sqrt_lt_R0, Hy0).
    (* every other rho equals v *)
    assert (Ecube : sumf K (fun k => if Nat.eq_dec k j then 0 else rho k ^ 3) = m * v ^ 3).
    { assert (2 * T * (rho j - (rho j ^ 3 + sumf K (fun k => if Nat.eq_dec k j then 0 else rho k ^ 3)))
              = 2 * T * (rho j - (rho j ^ 3 + m * v ^ 3))).
      { rewrite Halg, E1. replace (2 * T * (m * Y)) with (2 * m * Y * T) by ring. rewrite <- E. ring. }
      apply (Rmult_eq_reg_l (2 * T)) in H; [lra|lra]. }
    rewrite Ecube in PMeq. replace (m * v ^ 3 - m * v ^ 3) with 0 in PMeq by ring.
    assert (Hn : forall i, (i < K)%nat -> 0 <= (if Nat.eq_dec i j then 0 else
       rho i ^ 3 - (v ^ 3 + 3 / 2 * v * (rho i ^ 2 - v ^ 2)))).
    { intros i _. destruct (Nat.eq_dec i j); [lra|].
      pose proof (cube_tangent (rho i) v (pos_nonneg _) Hv). lra. }
    pose proof (sumf_zero_nonneg K _ Hn PMeq k Hk) as Z. cbv beta in Z.
    destruct (Nat.eq_dec k j) as [|_]; [contradiction|].
    assert (Erk : rho k = v) by (apply cube_tangent_eq; [apply pos_nonneg|exact Hvpos|lra]).
    assert (Euk : rho k = u k - tau0).
    { unfold rho in Erk |- *. destruct (Rle_dec 0 (u k - tau0)) as [H0|H0];
        [apply pos_of_nonneg, H0|rewrite pos_of_nonpos in Erk; lra]. }
    assert (Hreg : d k - d j = 2 * T * (u j - u k)) by (unfold u; field; lra).
    rewrite Hreg. replace (u j - u k) with (rho j - rho k) by (rewrite Ej, Euk; ring).
    rewrite Erk, Ea, Eb. unfold tK_entmax. fold m. ring.
Qed.

End EntmaxRow.

Lemma entmax_sharp_attained T K d j : 0 < T -> (2 <= K)%nat -> (j < K)%nat ->
  (forall k, (k < K)%nat -> k <> j -> d k - d j = T * tK_entmax K) ->
  excess Entmax15 T K d = cK_entmax K * T.
Proof.
  intros HT HK2 Hj H. assert (HK : (0 < K)%nat) by lia. set (m := INR K - 1).
  assert (Hm : 1 <= m) by (unfold m; pose proof (le_INR 2 K HK2); simpl in H0; lra).
  assert (Hy0 : 0 < ent_y m) by (apply y_pos; lra).
  set (beta := sqrt (ent_y m)). set (alpha := sqrt (1 - m * ent_y m)).
  assert (Halpha : alpha = ent_t m * beta) by (apply alpha_eq; lra).
  pose proof (t_gt_one m ltac:(lra)) as Ht.
  assert (Hbeta : 0 < beta) by apply sqrt_lt_R0, Hy0.
  assert (Hb2 : beta ^ 2 = ent_y m) by (apply pow2_sqrt; lra).
  assert (Ha2 : alpha ^ 2 = 1 - m * ent_y m).
  { apply pow2_sqrt. rewrite (one_minus_my m ltac:(lra)). apply Rmult_le_pos; [apply pow2_ge_0|lra]. }
  assert (HtK : tK_entmax K = 2 * (alpha - beta)) by reflexivity.
  assert (Hab : beta < alpha) by (rewrite Halpha; nra).
  set (u := fun l => (- d l / T) / 2).
  assert (Hu : forall k, (k < K)%nat -> k <> j -> u k = u j - (alpha - beta)).
  { intros k Hk Hkj. pose proof (H k Hk Hkj) as E. rewrite HtK in E. unfold u.
    replace (d k) with (d j + T * (2 * (alpha - beta))) by lra. field. lra. }
  assert (Htau : tau K u = u j - alpha).
  { apply tau_unique; [exact HK|]. unfold phi. rewrite (sumf_split K j) by exact Hj.
    replace (u j - (u j - alpha)) with alpha by ring. rewrite pos_of_nonneg by lra.
    rewrite (sumf_ext K _ (fun k => if Nat.eq_dec k j then 0 else beta ^ 2)).
    - rewrite sumf_others by exact Hj. fold m. rewrite Ha2, Hb2. ring.
    - intros k Hk. destruct (Nat.eq_dec k j) as [|Hkj]; [reflexivity|].
      rewrite Hu by assumption. replace (u j - (alpha - beta) - (u j - alpha)) with beta by ring.
      rewrite pos_of_nonneg by lra. reflexivity. }
  assert (Hmin : mink K d = d j).
  { apply mink_of_min; [exact Hj|]. intros k Hk. destruct (Nat.eq_dec k j) as [->|Hkj]; [lra|].
    specialize (H k Hk Hkj). rewrite HtK in H. nra. }
  rewrite excess_regret by exact HK. cbn [rmap]. unfold entmax. fold u. rewrite Htau.
  rewrite (sumf_split K j) by exact Hj. unfold regret at 1. rewrite Hmin.
  rewrite (sumf_ext K _ (fun k => if Nat.eq_dec k j then 0 else beta ^ 2 * (T * tK_entmax K))).
  - rewrite sumf_others by exact Hj. fold m. rewrite HtK, Hb2. unfold cK_entmax. fold m beta alpha. ring.
  - intros k Hk. destruct (Nat.eq_dec k j) as [|Hkj]; [reflexivity|].
    change (- d k / T / 2) with (u k). rewrite (Hu k Hk Hkj).
    replace (u j - (alpha - beta) - (u j - alpha)) with beta by ring. rewrite pos_of_nonneg by lra.
    unfold regret. rewrite Hmin, H by assumption. reflexivity.
Qed.

(** ** Claim [uniform-rate], entmax-1.5. *)

Theorem entmax_excess_sharp_iff T K d : 0 < T -> (2 <= K)%nat ->
  excess Entmax15 T K d <= cK_entmax K * T /\
  (excess Entmax15 T K d = cK_entmax K * T <->
   exists j, (j < K)%nat /\ forall k, (k < K)%nat -> k <> j -> d k - d j = T * tK_entmax K).
Proof.
  intros HT HK2. assert (HK : (0 < K)%nat) by lia.
  destruct (ent_excess_sharp T K d HT HK HK2) as [B Eq]. split; [exact B|split].
  - intros E. exists (amin K d). split; [apply amin_lt, HK|]. apply Eq, E.
  - intros [j [Hj H]]. apply (entmax_sharp_attained T K d j HT HK2 Hj H).
Qed.

Lemma tK_entmax_pos K : (2 <= K)%nat -> 0 < tK_entmax K.
Proof.
  intros HK2. set (m := INR K - 1).
  assert (Hm : 1 <= m) by (unfold m; pose proof (le_INR 2 K HK2); simpl in H; lra).
  unfold tK_entmax. fold m. rewrite (alpha_eq m ltac:(lra)).
  pose proof (t_gt_one m ltac:(lra)). pose proof (sqrt_lt_R0 _ (y_pos m ltac:(lra))). nra.
Qed.

Theorem uniform_rate_entmax T D N K X :
  (0 < N)%nat -> (0 < D)%nat -> (2 <= K)%nat -> 0 < T ->
  (* (a) sup_C (J - F_T) = T H_max, attained at coincident centres *)
  (forall C, J D N K X C - F Entmax15 T D N K X C <= T * hmax Entmax15 K) /\
  (exists C, J D N K X C - F Entmax15 T D N K X C = T * hmax Entmax15 K) /\
  (* (b) L_T - J <= c_K T *)
  (forall C, L Entmax15 T D N K X C - J D N K X C <= cK_entmax K * T) /\
  (* (c) c_K T / N <= sup_C (L_T - J), with equality c_K T when all points coincide *)
  (exists C, cK_entmax K * T / INR N <= L Entmax15 T D N K X C - J D N K X C) /\
  ((forall i j, (i < N)%nat -> (j < D)%nat -> X i j = X O j) ->
     exists C, L Entmax15 T D N K X C - J D N K X C = cK_entmax K * T) /\
  (* c_K < (4/3)(1 - K^-1/2) *)
  cK_entmax K < hmax Entmax15 K.
Proof.
  intros HN HD HK HT. assert (HK0 : (0 < K)%nat) by lia.
  assert (Ht : 0 < tK_entmax K) by apply tK_entmax_pos, HK.
  assert (Ha : 0 <= T * tK_entmax K) by (apply Rmult_le_pos; lra).
  assert (Hv : excess Entmax15 T K (spike_row (T * tK_entmax K)) = cK_entmax K * T).
  { apply (entmax_sharp_attained T K _ O HT HK HK0). intros k _ Hk.
    unfold spike_row. rewrite if_eq. destruct (Nat.eq_dec k O); [lia|ring]. }
  repeat split.
  - intros C. destruct (sandwich Entmax15 T D N K X C HN HK0 HT) as [H _]. lra.
  - exists (fun _ j => X O j).
    rewrite (sandwich_lower_bound_at_coincident_centres Entmax15 T D N K X _ HN HK0 HT) by reflexivity.
    ring.
  - intros C. rewrite excess_mean by exact HN.
    replace (cK_entmax K * T) with (sumf N (fun _ => cK_entmax K * T) / INR N)
      by (rewrite sumf_const; field; apply Rgt_not_eq, INR_pos, HN).
    apply mean_le; [exact HN|]. intros i _. apply (entmax_excess_sharp_iff T K _ HT HK).
  - exists (spike X (T * tK_entmax K)). apply (spike_lower Entmax15 T D N K X _ _ HN HD HK0 HT Ha Hv).
  - intros Hx. exists (spike X (T * tK_entmax K)).
    apply (spike_coincident Entmax15 T D N K X _ _ HN HD HK0 Ha Hv Hx).
  - pose proof (excess_lt_hmax Entmax15 T K (spike_row (T * tK_entmax K)) HK HT). rewrite Hv in H.
    apply (Rmult_lt_reg_r T); [exact HT|]. lra.
Qed.

(** The registry's value c_3 = sqrt(2/27). *)
Theorem cK_entmax_3 : cK_entmax 3 = sqrt (2 / 27).
Proof.
  unfold cK_entmax, ent_y. replace (INR 3 - 1) with 2 by (simpl; lra).
  replace (9 + 8 * 2) with (5 * 5) by ring. rewrite sqrt_square by lra.
  replace ((9 + 12 * 2 - 3 * 5) / (18 * 2 * (2 + 1))) with (1 / 6) by field.
  replace (1 - 2 * (1 / 6)) with (4 * (1 / 6)) by field.
  rewrite sqrt_mult_alt by lra. replace 4 with (2 * 2) at 1 by ring. rewrite sqrt_square by lra.
  replace (2 / 27) with ((1 / 6) ^ 2 * (1 / 6) * 16) by field.
  rewrite sqrt_mult_alt by (apply Rmult_le_pos; [apply pow2_ge_0|lra]).
  rewrite sqrt_mult_alt by apply pow2_ge_0. rewrite sqrt_pow2 by lra.
  replace 16 with (4 * 4) by ring. rewrite sqrt_square by lra. field.
Qed.

(** The registry's value c_2 = 0.18330 (to five decimals). *)
Theorem cK_entmax_2 : 183295 / 1000000 < cK_entmax 2 < 183305 / 1000000.
Proof.
  assert (Hm : INR 2 - 1 = 1) by (simpl; lra).
  pose proof (t_gt_one 1 ltac:(lra)) as Ht. pose proof (y_times 1 ltac:(lra)) as Hy.
  pose proof (y_pos 1 ltac:(lra)) as Hy0. pose proof (alpha_eq 1 ltac:(lra)) as Ha.
  set (t := ent_t 1) in *. set (y := ent_y 1) in *. set (beta := sqrt y) in *.
  assert (Hb2 : beta ^ 2 = y) by (apply pow2_sqrt; lra).
  assert (Hb : 0 < beta) by apply sqrt_lt_R0, Hy0.
  assert (Hc : cK_entmax 2 = 2 * beta ^ 3 * (t - 1)).
  { unfold cK_entmax. rewrite Hm. fold y. rewrite Rmult_1_l in Ha |- *. rewrite Ha.
    fold beta. rewrite <- Hb2. ring. }
  assert (Hsq : (cK_entmax 2) ^ 2 * (27 * (t ^ 3 * (t - 1))) = 4).
  { rewrite Hc. replace ((2 * beta ^ 3 * (t - 1)) ^ 2 * (27 * (t ^ 3 * (t - 1))))
      with (4 * (beta ^ 2 * (3 * t * (t - 1))) ^ 3) by ring. rewrite Hb2, Hy. ring. }
  assert (Hcpos : 0 < cK_entmax 2) by (rewrite Hc; pose proof (pow_lt beta 3 Hb); nra).
  (* t = (3 + sqrt 17)/4 with 4.1231056 < sqrt 17 < 4.1231057 *)
  assert (Hs17 : 41231056 / 10000000 < sqrt 17 < 41231057 / 10000000).
  { split.
    - rewrite <- (sqrt_square (41231056 / 10000000)) by lra. apply sqrt_lt_1_alt. lra.
    - rewrite <- (sqrt_square (41231057 / 10000000)) by lra. apply sqrt_lt_1_alt. lra. }
  assert (Et : t = (3 + sqrt 17) / 4) by (unfold t, ent_t; f_equal; f_equal; f_equal; ring).
  set (t1 := (3 + 41231056 / 10000000) / 4). set (t2 := (3 + 41231057 / 10000000) / 4).
  assert (Ht1 : t1 < t) by (unfold t1; lra). assert (Ht2 : t < t2) by (unfold t2; lra).
  assert (Hg1 : t1 ^ 3 * (t1 - 1) < t ^ 3 * (t - 1)).
  { assert (t1 ^ 3 < t ^ 3) by (unfold t1 in *; nra).
    assert (0 < t1 - 1) by (unfold t1; lra). assert (0 < t1 ^ 3) by (apply pow_lt; unfold t1; lra). nra. }
  assert (Hg2 : t ^ 3 * (t - 1) < t2 ^ 3 * (t2 - 1)).
  { assert (t ^ 3 < t2 ^ 3) by (unfold t2 in *; nra).
    assert (0 < t - 1) by lra. assert (0 < t ^ 3) by (apply pow_lt; lra). nra. }
  assert (B1 : (183295 / 1000000) ^ 2 * (27 * (t2 ^ 3 * (t2 - 1))) < 4) by (unfold t2; lra).
  assert (B2 : 4 < (183305 / 1000000) ^ 2 * (27 * (t1 ^ 3 * (t1 - 1)))) by (unfold t1; lra).
  set (c := cK_entmax 2) in *. set (g := t ^ 3 * (t - 1)) in *.
  split.
  - destruct (Rlt_le_dec (183295 / 1000000) c) as [|Hle]; [assumption|exfalso].
    assert (c ^ 2 <= (183295 / 1000000) ^ 2) by (apply pow_incr; lra).
    assert (c ^ 2 * (27 * g) <= (183295 / 1000000) ^ 2 * (27 * g)) by (apply Rmult_le_compat_r; [unfold g; nra|lra]).
    assert ((183295 / 1000000) ^ 2 * (27 * g) < (183295 / 1000000) ^ 2 * (27 * (t2 ^ 3 * (t2 - 1)))) by nra.
    lra.
  - destruct (Rlt_le_dec c (183305 / 1000000)) as [|Hle]; [assumption|exfalso].
    assert ((183305 / 1000000) ^ 2 <= c ^ 2) by (apply pow_incr; lra).
    assert ((183305 / 1000000) ^ 2 * (27 * g) <= c ^ 2 * (27 * g)) by (apply Rmult_le_compat_r; [unfold g; nra|lra]).
    assert ((183305 / 1000000) ^ 2 * (27 * (t1 ^ 3 * (t1 - 1))) < (183305 / 1000000) ^ 2 * (27 * g)) by nra.
    lra.
Qed.
