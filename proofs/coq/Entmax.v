(** * Entmax-1.5: the threshold, one-hot rows (claim [entmax-one-hot-threshold]), the
    support (claim [entmax-support]), and the counterexample of [entmax-order-converse].

    A row is [d : nat -> R] (squared distances d_0 .. d_{K-1}); its logits are z = -d/T and
    entmax-1.5 is p_k = [z_k/2 - tau]_+^2 with sum_k p_k = 1 ([Base.entmax], tau from
    [Base.tau], unique by [Base.tau_unique]). *)

From Coq Require Import Reals Lra Lia.
From KmeansRBF Require Import Base.
Open Scope R_scope.

Definition ent_row (K : nat) (T : R) (d : nat -> R) : nat -> R := entmax K (fun l => - d l / T).

Definition one_hot (K : nat) (p : nat -> R) (j : nat) : Prop :=
  p j = 1 /\ forall k, (k < K)%nat -> k <> j -> p k = 0.

(** ** The threshold in closed form on the support.

    With S the support (p_k > 0), s = |S|, A = sum_S u_k, B = sum_S u_k^2 (u = z/2):
    tau = (A - sqrt(A^2 - s (B - 1))) / s. *)

Definition supp (K : nat) (p : nat -> R) (k : nat) : R := if Rlt_dec 0 (p k) then 1 else 0.

Theorem tau_closed_form K z : (0 < K)%nat ->
  let u := fun l => z l / 2 in
  let p := entmax K z in
  let s := sumf K (supp K p) in
  let A := sumf K (fun k => supp K p k * u k) in
  let B := sumf K (fun k => supp K p k * u k ^ 2) in
  0 < s /\ tau K u = (A - sqrt (A ^ 2 - s * (B - 1))) / s.
Proof.
  intros HK u p s A B. set (t := tau K u).
  assert (Hphi : sumf K (fun k => supp K p k * (u k - t) ^ 2) = 1).
  { rewrite <- (tau_spec K u HK). fold t. unfold phi. apply sumf_ext. intros k _.
    unfold supp, p, entmax. fold u t. change (z k / 2) with (u k). destruct (Rlt_dec 0 (pos (u k - t) ^ 2)) as [H|H].
    - rewrite pos_of_nonneg; [ring|]. destruct (Rle_dec 0 (u k - t)); [assumption|].
      rewrite pos_of_nonpos in H by lra. lra.
    - assert (pos (u k - t) ^ 2 = 0) by (pose proof (pow2_ge_0 (pos (u k - t))); lra).
      lra. }
  (* expand: s t^2 - 2 A t + B - 1 = 0 *)
  assert (Hq : s * t ^ 2 - 2 * A * t + (B - 1) = 0).
  { rewrite (sumf_ext K _ (fun k => supp K p k * u k ^ 2 - 2 * t * (supp K p k * u k) + t ^ 2 * supp K p k))
      in Hphi by (intros; ring).
    rewrite sumf_plus, sumf_minus, !sumf_scal in Hphi. fold A B s in Hphi. lra. }
  (* every support index has u_k > t, so t < A / s *)
  assert (Hs : 0 < s).
  { destruct (maxk_attained K u HK) as [k [Hk E]].
    assert (Hkp : 0 < p k).
    { unfold p, entmax. fold u t. change (z k / 2) with (u k). rewrite pos_of_nonneg.
      - pose proof (tau_lt_max K u HK). fold t in H. rewrite E. nra.
      - pose proof (tau_lt_max K u HK). fold t in H. lra. }
    apply Rlt_le_trans with (supp K p k).
    - unfold supp. destruct (Rlt_dec 0 (p k)); lra.
    - apply (sumf_term_le K (supp K p)); [|exact Hk]. intros l _. unfold supp. destruct (Rlt_dec 0 (p l)); lra. }
  assert (Hlt : s * t < A).
  { unfold s, A. rewrite <- sumf_scal_r.
    apply sumf_lt.
    - intros k _. unfold supp. destruct (Rlt_dec 0 (p k)) as [H|H]; [|lra].
      unfold p, entmax in H. fold u t in H. change (z k / 2) with (u k) in H.
      destruct (Rle_dec (u k) t); [rewrite pos_of_nonpos in H by lra; lra|lra].
    - destruct (maxk_attained K u HK) as [k [Hk E]]. exists k. split; [exact Hk|].
      pose proof (tau_lt_max K u HK). fold t in H.
      assert (0 < p k) by (unfold p, entmax; fold u t; change (z k / 2) with (u k); rewrite pos_of_nonneg by lra; nra).
      unfold supp. destruct (Rlt_dec 0 (p k)); [lra|contradiction]. }
  split; [exact Hs|].
  (* the smaller root of the quadratic *)
  assert (Hdisc : A ^ 2 - s * (B - 1) = (A - s * t) ^ 2) by nra.
  rewrite Hdisc, sqrt_pow2 by lra. field. lra.
Qed.

(** ** One-hot rows. *)

Section Row.
Variables (K : nat) (T : R) (d : nat -> R).
Hypotheses (HK : (0 < K)%nat) (HT : 0 < T).
Let u := fun l => (- d l / T) / 2.

Lemma u_diff k j : u k - u j = (d j - d k) / (2 * T).
Proof. unfold u. field. lra. Qed.

(** If every other distance exceeds d_j by at least 2T, then tau = u_j - 1 and the row is e_j. *)
Lemma one_hot_of_gap j : (j < K)%nat -> (forall k, (k < K)%nat -> k <> j -> 2 * T <= d k - d j) ->
  tau K u = u j - 1 /\ one_hot K (ent_row K T d) j.
Proof.
  intros Hj H.
  assert (Hk : forall k, (k < K)%nat -> k <> j -> pos (u k - (u j - 1)) = 0).
  { intros k Hk Hkj. apply pos_of_nonpos. pose proof (u_diff k j). specialize (H k Hk Hkj).
    assert (E : (d j - d k) / (2 * T) = -1 - (d k - d j - 2 * T) / (2 * T)) by (field; lra).
    assert (0 <= (d k - d j - 2 * T) / (2 * T))
      by (unfold Rdiv; apply Rmult_le_pos; [lra|left; apply Rinv_0_lt_compat; lra]).
    lra. }
  assert (Ht : tau K u = u j - 1).
  { apply tau_unique; [exact HK|]. unfold phi. rewrite (sumf_split K j) by exact Hj.
    replace (u j - (u j - 1)) with 1 by ring. rewrite pos_of_nonneg by lra.
    rewrite (sumf_ext K _ (fun _ => 0)); [rewrite sumf_zero; ring|].
    intros k Hk'. destruct (Nat.eq_dec k j); [reflexivity|]. rewrite Hk by assumption. ring. }
  split; [exact Ht|split].
  - unfold ent_row, entmax. fold u. rewrite Ht. change (- d j / T / 2) with (u j).
    replace (u j - (u j - 1)) with 1 by ring.
    rewrite pos_of_nonneg by lra. ring.
  - intros k Hk' Hkj. unfold ent_row, entmax. fold u. rewrite Ht. change (- d k / T / 2) with (u k).
    rewrite Hk by assumption. ring.
Qed.

(** Conversely a one-hot row has every other distance at least 2T above d_j. *)
Lemma gap_of_one_hot j : (j < K)%nat -> one_hot K (ent_row K T d) j ->
  tau K u = u j - 1 /\ forall k, (k < K)%nat -> k <> j -> 2 * T <= d k - d j.
Proof.
  intros Hj [H1 H0]. unfold ent_row, entmax in H1, H0. fold u in H1, H0.
  change (- d j / T / 2) with (u j) in H1.
  assert (Ej : u j - tau K u = 1).
  { destruct (Rle_dec 0 (u j - tau K u)) as [H|H].
    - rewrite pos_of_nonneg in H1 by exact H. nra.
    - rewrite pos_of_nonpos in H1 by lra. lra. }
  split; [lra|]. intros k Hk Hkj. specialize (H0 k Hk Hkj). change (- d k / T / 2) with (u k) in H0.
  assert (u k <= tau K u).
  { destruct (Rle_dec (u k) (tau K u)); [assumption|]. rewrite pos_of_nonneg in H0 by lra. nra. }
  pose proof (u_diff k j).
  assert (E : d k - d j - 2 * T = - (2 * T) * ((d j - d k) / (2 * T) + 1)) by (field; lra).
  assert (0 <= - (2 * T) * ((d j - d k) / (2 * T) + 1)) by nra.
  lra.
Qed.

(** Claim [entmax-one-hot-threshold]: the row is one-hot (p = e_j) iff d_k - d_j >= 2T for
    every k <> j; the boundary case (equality) is included. *)
Theorem one_hot_iff_gap j : (j < K)%nat ->
  (one_hot K (ent_row K T d) j <-> forall k, (k < K)%nat -> k <> j -> 2 * T <= d k - d j).
Proof.
  intros Hj. split.
  - intros H. apply (gap_of_one_hot j Hj H).
  - intros H. apply (one_hot_of_gap j Hj H).
Qed.

(** The one-hot entry is the nearest centre (with ties to the lowest index: [amin]), and
    then tau = max_k z_k / 2 - 1. *)
Theorem one_hot_is_nearest j : (j < K)%nat -> one_hot K (ent_row K T d) j ->
  j = amin K d /\ tau K u = maxk K u - 1.
Proof.
  intros Hj H. destruct (gap_of_one_hot j Hj H) as [Ht Hg].
  assert (Hlt : forall k, (k < K)%nat -> k <> j -> d j < d k) by (intros k Hk Hkj; specialize (Hg k Hk Hkj); lra).
  split.
  - symmetry. apply amin_unique; [exact Hj| |].
    + intros k Hk. destruct (Nat.eq_dec k j) as [->|Hkj]; [lra|left; apply Hlt; assumption].
    + intros k Hk. apply Hlt; lia.
  - rewrite Ht. f_equal. apply Rle_antisym.
    + apply maxk_ge, Hj.
    + destruct (maxk_attained K u HK) as [k [Hk E]]. rewrite <- E.
      destruct (Nat.eq_dec k j) as [->|Hkj]; [lra|]. specialize (Hlt k Hk Hkj).
      unfold u. apply Rmult_le_compat_r; [lra|]. unfold Rdiv. apply Rmult_le_compat_r;
        [left; apply Rinv_0_lt_compat, HT|lra].
Qed.

(** "iff d_(2) - d_(1) >= 2T": with j the nearest centre (ties to the lowest index), the
    row is one-hot iff every other distance exceeds d_j by at least 2T (vacuous for K = 1). *)
Theorem one_hot_iff_two_smallest :
  (exists j, (j < K)%nat /\ one_hot K (ent_row K T d) j) <->
  (forall k, (k < K)%nat -> k <> amin K d -> 2 * T <= d k - d (amin K d)).
Proof.
  split.
  - intros [j [Hj H]]. destruct (one_hot_is_nearest j Hj H) as [Ej _]. rewrite <- Ej.
    apply (gap_of_one_hot j Hj H).
  - intros H. exists (amin K d). split; [apply amin_lt, HK|]. apply one_hot_of_gap; [apply amin_lt, HK|exact H].
Qed.

(** For a gap below 2T the runner-up has positive mass. *)
Theorem runner_up_positive k2 : (k2 < K)%nat -> k2 <> amin K d ->
  (forall k, (k < K)%nat -> k <> amin K d -> d k2 <= d k) -> d k2 - d (amin K d) < 2 * T ->
  0 < ent_row K T d k2.
Proof.
  intros Hk2 Hne Hrun Hgap. set (j := amin K d) in *. assert (Hj : (j < K)%nat) by apply amin_lt, HK.
  destruct (Rlt_le_dec 0 (ent_row K T d k2)) as [|Hle]; [assumption|exfalso].
  assert (Hz : ent_row K T d k2 = 0) by (pose proof (entmax_nonneg K (fun l => - d l / T) k2); unfold ent_row in *; lra).
  unfold ent_row in Hz. apply entmax_zero_iff in Hz. fold u in Hz. change (- d k2 / T / 2) with (u k2) in Hz.
  (* every other entry is below u_k2 <= tau, so the row is e_j, hence the gap is >= 2T *)
  assert (H1 : one_hot K (ent_row K T d) j).
  { split.
    - pose proof (entmax_sum K (fun l => - d l / T) HK) as S. rewrite (sumf_split K j) in S by exact Hj.
      rewrite (sumf_ext K _ (fun _ => 0)) in S; [rewrite sumf_zero in S; unfold ent_row; lra|].
      intros k Hk. destruct (Nat.eq_dec k j) as [|Hkj]; [reflexivity|].
      apply entmax_zero_iff. fold u. change (- d k / T / 2) with (u k).
      assert (u k <= u k2); [|lra]. pose proof (Hrun k Hk Hkj). unfold u.
      apply Rmult_le_compat_r; [lra|]. unfold Rdiv. apply Rmult_le_compat_r; [left; apply Rinv_0_lt_compat, HT|lra].
    - intros k Hk Hkj. unfold ent_row. apply entmax_zero_iff. fold u. change (- d k / T / 2) with (u k).
      assert (u k <= u k2); [|lra]. pose proof (Hrun k Hk Hkj). unfold u.
      apply Rmult_le_compat_r; [lra|]. unfold Rdiv. apply Rmult_le_compat_r; [left; apply Rinv_0_lt_compat, HT|lra]. }
  pose proof (proj2 (gap_of_one_hot j Hj H1) k2 Hk2 Hne). lra.
Qed.

End Row.

(** ** The support (claim [entmax-support]). *)

(** S_k = sum_l [d_k - d_l]_+^2. *)
Definition supp_stat (K : nat) (d : nat -> R) (k : nat) : R := sumf K (fun l => pos (d k - d l) ^ 2).

Section Support.
Variables (K : nat) (T : R) (d : nat -> R).
Hypotheses (HK : (0 < K)%nat) (HT : 0 < T).
Let u := fun l => (- d l / T) / 2.

Lemma pos_scale x c : 0 < c -> pos (x / c) = pos x / c.
Proof.
  intros Hc. unfold pos, Rmax. destruct (Rle_dec 0 (x / c)) as [H|H]; destruct (Rle_dec 0 x) as [H'|H'].
  - reflexivity.
  - exfalso. apply H'. apply (Rmult_le_reg_r (/ c)); [apply Rinv_0_lt_compat, Hc|]. rewrite Rmult_0_l. exact H.
  - exfalso. apply H. unfold Rdiv. apply Rmult_le_pos; [exact H'|left; apply Rinv_0_lt_compat, Hc].
  - unfold Rdiv. ring.
Qed.

Lemma phi_at_u k : phi K u (u k) = supp_stat K d k / (4 * T ^ 2).
Proof.
  unfold phi, supp_stat. unfold Rdiv at 1. rewrite <- sumf_scal_r. apply sumf_ext. intros l _.
  replace (u l - u k) with ((d k - d l) / (2 * T)) by (unfold u; field; lra).
  rewrite pos_scale by lra. field. lra.
Qed.

(** r_k > 0 iff S_k < 4 T^2. *)
Theorem support_iff k : 0 < ent_row K T d k <-> supp_stat K d k < 4 * T ^ 2.
Proof.
  assert (H4 : 0 < 4 * T ^ 2) by nra.
  unfold ent_row. rewrite entmax_pos_iff. fold u. change (- d k / T / 2) with (u k).
  pose proof (phi_at_u k) as E. split; intros H.
  - assert (phi K u (u k) < 1).
    { destruct (Rlt_le_dec 0 (phi K u (u k))) as [Hp|Hp].
      - rewrite <- (tau_spec K u HK). apply phi_strict; assumption.
      - lra. }
    rewrite E in H0. apply (Rmult_lt_reg_r (/ (4 * T ^ 2))); [apply Rinv_0_lt_compat, H4|].
    rewrite Rinv_r by lra. exact H0.
  - assert (Hphi : phi K u (u k) < 1).
    { rewrite E. apply (Rmult_lt_reg_r (4 * T ^ 2)); [exact H4|]. field_simplify; lra. }
    destruct (Rlt_le_dec (tau K u) (u k)) as [|Hle]; [assumption|exfalso].
    pose proof (phi_antitone K u (u k) (tau K u) Hle). rewrite tau_spec in H0 by exact HK. lra.
Qed.

(** Hence the support lies in the 2T-thickened Voronoi cell: r_k > 0 -> d_k < min_l d_l + 2T. *)
Theorem support_in_thickened_cell k : (k < K)%nat -> 0 < ent_row K T d k -> d k < mink K d + 2 * T.
Proof.
  intros Hk H. apply support_iff in H. unfold supp_stat in H.
  set (j := amin K d). assert (Hj : (j < K)%nat) by apply amin_lt, HK.
  assert (Hs : pos (d k - d j) ^ 2 <= sumf K (fun l => pos (d k - d l) ^ 2))
    by (apply (sumf_term_le K (fun l => pos (d k - d l) ^ 2)); [intros; apply pow2_ge_0|exact Hj]).
  assert (Hm : d j <= d k) by apply amin_le, Hk.
  rewrite pos_of_nonneg in Hs by lra. unfold mink. fold j.
  assert ((d k - d j) ^ 2 < (2 * T) ^ 2) by lra.
  destruct (Rlt_le_dec (d k - d j) (2 * T)); [lra|]. nra.
Qed.

(** The bound is exact for the runner-up when the nearest centre j is unique:
    S_k = (d_k - d_j)^2, so r_k > 0 iff d_k - d_j < 2T. *)
Theorem support_runner_up j k : (j < K)%nat -> (k < K)%nat -> k <> j ->
  (forall l, (l < K)%nat -> l <> j -> d j < d l) ->
  (forall l, (l < K)%nat -> l <> j -> d k <= d l) ->
  supp_stat K d k = (d k - d j) ^ 2 /\ (0 < ent_row K T d k <-> d k - d j < 2 * T).
Proof.
  intros Hj Hk Hkj Huniq Hrun.
  assert (E : supp_stat K d k = (d k - d j) ^ 2).
  { unfold supp_stat. rewrite (sumf_single K j); [|exact Hj|].
    - rewrite pos_of_nonneg; [reflexivity|]. specialize (Huniq k Hk Hkj). lra.
    - intros l Hl Hlj. rewrite pos_of_nonpos; [ring|]. specialize (Hrun l Hl Hlj). lra. }
  split; [exact E|]. rewrite support_iff, E. specialize (Huniq k Hk Hkj). split; intros H.
  - destruct (Rlt_le_dec (d k - d j) (2 * T)); [assumption|]. nra.
  - nra.
Qed.

(** Otherwise the inclusion is strict: if some l other than the nearest j and k itself is
    also closer than k, then S_k > (d_k - d_j)^2 and the support condition is strictly
    stronger than d_k - d_j < 2T. *)
Theorem support_strict_otherwise j k l : (j < K)%nat -> (l < K)%nat -> l <> j -> d l < d k ->
  (forall m, (m < K)%nat -> d j <= d m) -> (d k - d j) ^ 2 < supp_stat K d k.
Proof.
  intros Hj Hl Hlj Hlk Hmin. unfold supp_stat. rewrite (sumf_split K j) by exact Hj.
  assert (Hjk : d j <= d k) by (pose proof (Hmin l Hl); lra).
  rewrite pos_of_nonneg by lra.
  assert (0 < sumf K (fun i => if Nat.eq_dec i j then 0 else pos (d k - d i) ^ 2)); [|lra].
  apply Rlt_le_trans with (if Nat.eq_dec l j then 0 else pos (d k - d l) ^ 2).
  - destruct (Nat.eq_dec l j); [contradiction|]. rewrite pos_of_nonneg by lra. nra.
  - apply (sumf_term_le K (fun i => if Nat.eq_dec i j then 0 else pos (d k - d i) ^ 2)); [|exact Hl].
    intros i _. destruct (Nat.eq_dec i j); [lra|apply pow2_ge_0].
Qed.

(** With two centres tied nearest and every other centre at least as far as k, S_k is
    2 (d_k - d_min)^2: the threshold on the regret is sqrt 2 T, not 2T. *)
Theorem support_two_tied j1 j2 k : (j1 < K)%nat -> (j2 < K)%nat -> (k < K)%nat -> j1 <> j2 ->
  k <> j1 -> k <> j2 -> d j1 = d j2 -> d j1 <= d k ->
  (forall l, (l < K)%nat -> l <> j1 -> l <> j2 -> d k <= d l) ->
  supp_stat K d k = 2 * (d k - d j1) ^ 2 /\ (0 < ent_row K T d k <-> d k - d j1 < sqrt 2 * T).
Proof.
  intros H1 H2 Hk H12 Hk1 Hk2 Heq Hle Hfar.
  assert (E : supp_stat K d k = 2 * (d k - d j1) ^ 2).
  { unfold supp_stat. rewrite (sumf_split K j1) by exact H1. rewrite (sumf_split K j2) by exact H2.
    rewrite if_eq_dec_neq by exact (not_eq_sym H12).
    rewrite (sumf_ext K _ (fun _ => 0)); [|].
    { rewrite sumf_zero, (pos_of_nonneg (d k - d j1)), (pos_of_nonneg (d k - d j2)) by lra.
      rewrite Heq. ring. }
    intros l Hl. destruct (Nat.eq_dec l j2); [reflexivity|]. destruct (Nat.eq_dec l j1); [reflexivity|].
    rewrite pos_of_nonpos; [ring|]. specialize (Hfar l Hl n0 n). lra. }
  split; [exact E|]. rewrite support_iff, E.
  pose proof (sqrt_lt_R0 2 ltac:(lra)) as Hs. pose proof (sqrt_sqrt 2 ltac:(lra)) as Hss.
  split; intros H.
  - destruct (Rlt_le_dec (d k - d j1) (sqrt 2 * T)); [assumption|exfalso].
    assert ((sqrt 2 * T) ^ 2 <= (d k - d j1) ^ 2) by (apply pow_incr; nra). nra.
  - assert ((d k - d j1) ^ 2 < (sqrt 2 * T) ^ 2) by nra. nra.
Qed.

End Support.

(** The registry's example: d = (1, 1, 1 + 1.9 T) has its third centre outside the support
    although 1.9 T < 2 T. *)
Example support_tied_example T : 0 < T ->
  ent_row 3 T (fun l : nat => match l with O => 1 | S O => 1 | _ => 1 + 19 / 10 * T end) 2 = 0 /\
  19 / 10 * T < 2 * T.
Proof.
  intros HT. split; [|lra].
  set (d := fun l : nat => match l with O => 1 | S O => 1 | _ => 1 + 19 / 10 * T end).
  destruct (Rlt_le_dec 0 (ent_row 3 T d 2)) as [H|H].
  - exfalso. apply (support_iff 3 T d ltac:(lia) HT) in H.
    destruct (support_two_tied 3 T d ltac:(lia) HT 0 1 2) as [E _]; try lia; try (simpl; lra).
    + intros l Hl H0 H1. assert (l = 2%nat) by lia. subst l. simpl. lra.
    + rewrite E in H. simpl in H. nra.
  - pose proof (entmax_nonneg 3 (fun l => - d l / T) 2). unfold ent_row in *. lra.
Qed.

(** Data-set form: r_ik > 0 iff sum_l [d_ik - d_il]_+^2 < 4 T^2, and then d_ik < min_l d_il + 2T. *)
Corollary entmax_support T D K X C i k : (0 < K)%nat -> 0 < T -> (k < K)%nat ->
  (0 < resp Entmax15 T D K X C i k <-> supp_stat K (dist D X C i) k < 4 * T ^ 2) /\
  (0 < resp Entmax15 T D K X C i k -> dist D X C i k < mink K (dist D X C i) + 2 * T).
Proof.
  intros HK HT Hk. split.
  - apply (support_iff K T (dist D X C i) HK HT k).
  - apply (support_in_thickened_cell K T (dist D X C i) HK HT k Hk).
Qed.

(** ** Claim [entmax-order-converse] (refuted): d = (0, 2.25, 4), T = 1 gives p = (1, 0, 0),
    so p_3 >= p_2 although z_3 = -4 < z_2 = -2.25. *)
Theorem order_converse_counterexample :
  let d := fun l : nat => match l with O => 0 | S O => 9 / 4 | _ => 4 end in
  ent_row 3 1 d 0 = 1 /\ ent_row 3 1 d 1 = 0 /\ ent_row 3 1 d 2 = 0 /\
  ent_row 3 1 d 2 >= ent_row 3 1 d 1 /\ - d 2%nat / 1 < - d 1%nat / 1.
Proof.
  intros d. destruct (one_hot_of_gap 3 1 d ltac:(lia) ltac:(lra) 0 ltac:(lia)) as [_ [H0 Hk]].
  - intros k Hk Hk0. destruct k as [|[|[|k]]]; [lia|simpl; lra|simpl; lra|lia].
  - pose proof (Hk 1%nat ltac:(lia) ltac:(lia)). pose proof (Hk 2%nat ltac:(lia) ltac:(lia)).
    repeat split; try assumption; try lra. simpl. lra.
Qed.
