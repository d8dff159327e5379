(** * The soft step as a gradient step (claim [step-size]) and its limit as T -> 0 (claim
    [soft-step-limit]).

    Derivatives are Coquelicot's [is_derive] of F_T (the registry's variational F_T,
    [Base.F]) along one coordinate c_kj of one centre: [upd C k j v] is C with c_kj := v. *)

From Coq Require Import Reals Lra Lia.
From Coquelicot Require Import Coquelicot.
From KmeansRBF Require Import Base Sandwich Uniform Entmax.
Open Scope R_scope.

(** C with the coordinate j of centre k set to v. *)
Definition upd (C : nat -> nat -> R) (k j : nat) (v : R) : nat -> nat -> R :=
  fun k' j' => if Nat.eq_dec k' k then if Nat.eq_dec j' j then v else C k' j' else C k' j'.

Lemma upd_same C k j k' j' : upd C k j (C k j) k' j' = C k' j'.
Proof.
  unfold upd. destruct (Nat.eq_dec k' k) as [->|]; [|reflexivity].
  destruct (Nat.eq_dec j' j) as [->|]; reflexivity.
Qed.

Lemma dist_upd_same D X C k j i l : dist D X (upd C k j (C k j)) i l = dist D X C i l.
Proof. unfold dist, dist2. apply sumf_ext. intros. rewrite upd_same. reflexivity. Qed.

Lemma dist_upd_other D X C k j v i l : l <> k -> dist D X (upd C k j v) i l = dist D X C i l.
Proof.
  intros Hl. unfold dist, dist2, upd. apply sumf_ext. intros j' _.
  destruct (Nat.eq_dec l k); [contradiction|reflexivity].
Qed.

(** d_ik(v) = rest + (x_ij - v)^2, rest independent of v. *)
Lemma dist_upd_self D X C k j v i : (j < D)%nat ->
  dist D X (upd C k j v) i k =
  (X i j - v) ^ 2 + sumf D (fun j' => if Nat.eq_dec j' j then 0 else (X i j' - C k j') ^ 2).
Proof.
  intros Hj. unfold dist, dist2. rewrite (sumf_split D j) by exact Hj. unfold upd.
  rewrite !if_eq. f_equal. apply sumf_ext. intros j' _. destruct (Nat.eq_dec j' j); [reflexivity|].
  rewrite if_eq. reflexivity.
Qed.

(** ** Finite sums of derivatives. *)

Lemma is_derive_sumf n (f : nat -> R -> R) (f' : nat -> R) x :
  (forall i, (i < n)%nat -> is_derive (f i) x (f' i)) ->
  is_derive (fun y => sumf n (fun i => f i y)) x (sumf n f').
Proof.
  induction n as [|n IH]; intros H; simpl.
  - apply (is_derive_const 0 x).
  - apply (is_derive_plus (fun y => sumf n (fun i => f i y)) (f n)).
    + apply IH. intros; apply H; lia.
    + apply H; lia.
Qed.

Lemma is_derive_ext_R (f g : R -> R) x l : (forall t, f t = g t) -> is_derive f x l -> is_derive g x l.
Proof. intros H. apply is_derive_ext. exact H. Qed.

(** d/dv d_il(upd C k j v) = [l = k] 2 (v - x_ij). *)
Lemma is_derive_dist D X C k j i l v : (j < D)%nat ->
  is_derive (fun w => dist D X (upd C k j w) i l) v (if Nat.eq_dec l k then 2 * (v - X i j) else 0).
Proof.
  intros Hj. destruct (Nat.eq_dec l k) as [->|Hl].
  - apply (is_derive_ext (fun w => (X i j - w) ^ 2 +
       sumf D (fun j' => if Nat.eq_dec j' j then 0 else (X i j' - C k j') ^ 2))).
    { intros w. rewrite dist_upd_self by exact Hj. reflexivity. }
    auto_derive; [exact I|ring].
  - apply (is_derive_ext (fun _ => dist D X C i l)).
    { intros w. rewrite dist_upd_other by exact Hl. reflexivity. }
    apply (is_derive_const (dist D X C i l) v).
Qed.

(** ** The gradient of the softmax free energy, from its closed form
    F_T = -(T/N) sum_i log sum_k exp(-d_ik/T). *)

Lemma is_derive_free_point_softmax T D K X C k j i v : (0 < K)%nat -> 0 < T -> (k < K)%nat -> (j < D)%nat ->
  is_derive (fun w => free_point Softmax T K (dist D X (upd C k j w) i)) v
    (softmax K (fun l => - dist D X (upd C k j v) i l / T) k * (2 * (v - X i j))).
Proof.
  intros HK HT Hk Hj.
  set (d := fun w l => dist D X (upd C k j w) i l).
  set (Z := fun w => sumf K (fun l => exp (- d w l / T))).
  apply (is_derive_ext_R (fun w => - T * ln (Z w))).
  { intros w. rewrite free_point_softmax by assumption. reflexivity. }
  set (dd := fun l => if Nat.eq_dec l k then 2 * (v - X i j) else 0).
  assert (Hterm : forall l, (l < K)%nat ->
    is_derive (fun w => exp (- d w l / T)) v ((- / T * dd l) * exp (- d v l / T))).
  { intros l _.
    apply (is_derive_comp exp (fun w => - d w l / T) v (exp (- d v l / T)) (- / T * dd l)).
    - apply is_derive_exp.
    - apply (is_derive_ext_R (fun w => - / T * d w l)); [intros w; field; lra|].
      apply is_derive_scal. apply is_derive_dist, Hj. }
  assert (HZ : is_derive Z v (sumf K (fun l => (- / T * dd l) * exp (- d v l / T)))).
  { apply (is_derive_sumf K (fun l w => exp (- d w l / T))). exact Hterm. }
  assert (HZpos : 0 < Z v) by apply softmax_sum_pos, HK.
  assert (HL : is_derive (fun w => ln (Z w)) v
     (sumf K (fun l => (- / T * dd l) * exp (- d v l / T)) * / Z v)).
  { apply (is_derive_comp ln Z v (/ Z v) _); [apply is_derive_ln, HZpos|exact HZ]. }
  assert (Hs : sumf K (fun l => (- / T * dd l) * exp (- d v l / T)) = (- / T * (2 * (v - X i j))) * exp (- d v k / T)).
  { rewrite (sumf_single K k); [|exact Hk|].
    - unfold dd. rewrite if_eq. reflexivity.
    - intros l _ Hlk. unfold dd. destruct (Nat.eq_dec l k); [contradiction|ring]. }
  rewrite Hs in HL.
  replace (softmax K (fun l => - dist D X (upd C k j v) i l / T) k * (2 * (v - X i j)))
    with (- T * ((- / T * (2 * (v - X i j))) * exp (- d v k / T) * / Z v)).
  - apply is_derive_scal, HL.
  - unfold softmax, Z, d. field. repeat split; first [lra | apply Rgt_not_eq, HZpos].
Qed.

(** grad_{c_kj} F_T = (2/N) sum_i r_ik (c_kj - x_ij), softmax. *)
Theorem is_derive_F_softmax T D N K X C k j : (0 < N)%nat -> (0 < K)%nat -> 0 < T -> (k < K)%nat -> (j < D)%nat ->
  is_derive (fun v => F Softmax T D N K X (upd C k j v)) (C k j)
    (2 / INR N * sumf N (fun i => resp Softmax T D K X C i k * (C k j - X i j))).
Proof.
  intros HN HK HT Hk Hj. unfold F.
  apply (is_derive_ext_R (fun v => / INR N * sumf N (fun i => free_point Softmax T K (dist D X (upd C k j v) i)))).
  { intros v. unfold Rdiv. ring. }
  replace (2 / INR N * sumf N (fun i => resp Softmax T D K X C i k * (C k j - X i j)))
    with (/ INR N * sumf N (fun i => softmax K (fun l => - dist D X (upd C k j (C k j)) i l / T) k * (2 * (C k j - X i j)))).
  - apply is_derive_scal. apply (is_derive_sumf N (fun i w => free_point Softmax T K (dist D X (upd C k j w) i))).
    intros i _. apply is_derive_free_point_softmax; assumption.
  - rewrite <- !sumf_scal. apply sumf_ext. intros i _. unfold resp. cbn [rmap].
    rewrite (softmax_ext K _ (fun l => - dist D X C i l / T) k) by (try exact Hk; intros; rewrite dist_upd_same; reflexivity).
    field. apply Rgt_not_eq, INR_pos, HN.
Qed.

(** ** The gradient of the entmax-1.5 free energy, by the envelope argument.

    F_T per point is a minimum over the simplex, so moving one distance d_k by Delta changes
    it by between r'_k Delta and r_k Delta (r, r' the minimisers before and after); entmax
    is Lipschitz (tau is 1-Lipschitz in the sup norm), so both tend to r_k d(d_k)/dv. *)

Lemma gval_diff kd T K d d' p k : (k < K)%nat -> (forall l, (l < K)%nat -> l <> k -> d' l = d l) ->
  gval kd T K d' p - gval kd T K d p = p k * (d' k - d k).
Proof.
  intros Hk H. unfold gval.
  replace (sumf K (fun k0 => p k0 * d' k0) - T * entropy kd K p - (sumf K (fun k0 => p k0 * d k0) - T * entropy kd K p))
    with (sumf K (fun k0 => p k0 * d' k0) - sumf K (fun k0 => p k0 * d k0)) by ring.
  rewrite <- sumf_minus. rewrite (sumf_single K k); [ring|exact Hk|].
  intros l Hl Hlk. rewrite H by assumption. ring.
Qed.

Lemma envelope_bounds kd T K d d' k : (0 < K)%nat -> 0 < T -> (k < K)%nat ->
  (forall l, (l < K)%nat -> l <> k -> d' l = d l) ->
  rmap kd K (fun l => - d' l / T) k * (d' k - d k) <= free_point kd T K d' - free_point kd T K d /\
  free_point kd T K d' - free_point kd T K d <= rmap kd K (fun l => - d l / T) k * (d' k - d k).
Proof.
  intros HK HT Hk H. split.
  - pose proof (free_point_is_minimum kd T K d (rmap kd K (fun l => - d' l / T)) HK HT (rmap_simplex kd K _ HK)).
    rewrite (free_point_closed_form kd T K d') by assumption.
    pose proof (gval_diff kd T K d d' (rmap kd K (fun l => - d' l / T)) k Hk H). lra.
  - pose proof (free_point_is_minimum kd T K d' (rmap kd K (fun l => - d l / T)) HK HT (rmap_simplex kd K _ HK)).
    rewrite (free_point_closed_form kd T K d) by assumption.
    pose proof (gval_diff kd T K d d' (rmap kd K (fun l => - d l / T)) k Hk H). lra.
Qed.

Lemma pos_lip a b : Rabs (pos a - pos b) <= Rabs (a - b).
Proof. unfold pos, Rmax. repeat destruct Rle_dec; unfold Rabs; repeat destruct Rcase_abs; lra. Qed.

Lemma tau_lip K u u' e : (0 < K)%nat -> (forall l, (l < K)%nat -> Rabs (u' l - u l) <= e) ->
  Rabs (tau K u' - tau K u) <= e.
Proof.
  intros HK H. apply Rabs_le. split.
  - assert (tau K u <= tau K u' + e); [|lra]. apply tau_shift; [exact HK|].
    intros l Hl. specialize (H l Hl). apply Rabs_le_between in H. lra.
  - assert (tau K u' <= tau K u + e); [|lra]. apply tau_shift; [exact HK|].
    intros l Hl. specialize (H l Hl). apply Rabs_le_between in H. lra.
Qed.

Lemma entmax_lip K z z' k e : (0 < K)%nat -> (k < K)%nat ->
  (forall l, (l < K)%nat -> Rabs (z' l / 2 - z l / 2) <= e) ->
  Rabs (entmax K z' k - entmax K z k) <= 4 * e.
Proof.
  intros HK Hk H.
  set (s := pos (z k / 2 - tau K (fun l => z l / 2))). set (s' := pos (z' k / 2 - tau K (fun l => z' l / 2))).
  assert (Hs : Rabs (s' - s) <= 2 * e).
  { unfold s, s'. eapply Rle_trans; [apply pos_lip|].
    pose proof (tau_lip K (fun l => z l / 2) (fun l => z' l / 2) e HK H). pose proof (H k Hk).
    replace (z' k / 2 - tau K (fun l => z' l / 2) - (z k / 2 - tau K (fun l => z l / 2)))
      with ((z' k / 2 - z k / 2) - (tau K (fun l => z' l / 2) - tau K (fun l => z l / 2))) by ring.
    eapply Rle_trans; [apply Rabs_triang|]. rewrite Rabs_Ropp. lra. }
  assert (H1 : s <= 1).
  { assert (s ^ 2 <= 1); [|pose proof (pos_nonneg (z k / 2 - tau K (fun l => z l / 2))); fold s in H0; nra].
    apply (simplex_le_one K (entmax K z) k (entmax_simplex K z HK) Hk). }
  assert (H1' : s' <= 1).
  { assert (s' ^ 2 <= 1); [|pose proof (pos_nonneg (z' k / 2 - tau K (fun l => z' l / 2))); fold s' in H0; nra].
    apply (simplex_le_one K (entmax K z') k (entmax_simplex K z' HK) Hk). }
  assert (H0 : 0 <= s) by apply pos_nonneg. assert (H0' : 0 <= s') by apply pos_nonneg.
  unfold entmax. fold s s'. replace (s' ^ 2 - s ^ 2) with ((s' - s) * (s' + s)) by ring.
  rewrite Rabs_mult, (Rabs_right (s' + s)) by lra.
  assert (0 <= Rabs (s' - s)) by apply Rabs_pos. nra.
Qed.

Lemma is_derive_free_point_entmax T D K X C k j i v : (0 < K)%nat -> 0 < T -> (k < K)%nat -> (j < D)%nat ->
  is_derive (fun w => free_point Entmax15 T K (dist D X (upd C k j w) i)) v
    (entmax K (fun l => - dist D X (upd C k j v) i l / T) k * (2 * (v - X i j))).
Proof.
  intros HK HT Hk Hj. apply is_derive_Reals.
  set (d := fun w l => dist D X (upd C k j w) i l).
  set (G := fun w => free_point Entmax15 T K (d w)).
  set (r := fun w => entmax K (fun l => - d w l / T) k).
  set (a := 2 * (v - X i j)).
  assert (Hoth : forall w w' l, (l < K)%nat -> l <> k -> d w' l = d w l).
  { intros w w' l _ Hl. unfold d. rewrite !dist_upd_other by exact Hl. reflexivity. }
  assert (Hdk : forall h, d (v + h) k - d v k = h * (a + h)).
  { intros h. unfold d. rewrite !dist_upd_self by exact Hj. unfold a. ring. }
  assert (Hr1 : forall w, 0 <= r w <= 1).
  { intros w. split; [apply entmax_nonneg|].
    apply (simplex_le_one K _ k (entmax_simplex K _ HK) Hk). }
  (* |r(v+h) - r(v)| <= 2 |Delta| / T *)
  assert (Hlip : forall h, Rabs (r (v + h) - r v) <= 2 * Rabs (h * (a + h)) / T).
  { intros h. unfold r. replace (2 * Rabs (h * (a + h)) / T) with (4 * (Rabs (h * (a + h)) / (2 * T))) by (field; lra).
    apply entmax_lip; [exact HK|exact Hk|]. intros l Hl.
    destruct (Nat.eq_dec l k) as [->|Hlk].
    - replace (- d (v + h) k / T / 2 - - d v k / T / 2) with (- (d (v + h) k - d v k) / (2 * T)) by (field; lra).
      rewrite Hdk. unfold Rdiv. rewrite Rabs_mult, Rabs_Ropp, (Rabs_right (/ (2 * T)));
        [lra|left; apply Rinv_0_lt_compat; lra].
    - rewrite (Hoth v (v + h) l Hl Hlk). replace (- d v l / T / 2 - - d v l / T / 2) with 0 by ring.
      rewrite Rabs_R0. apply Rmult_le_pos; [apply Rabs_pos|left; apply Rinv_0_lt_compat; lra]. }
  (* the envelope inequalities *)
  assert (Henv : forall h, r (v + h) * (h * (a + h)) <= G (v + h) - G v <= r v * (h * (a + h))).
  { intros h. rewrite <- Hdk. unfold G, r.
    apply (envelope_bounds Entmax15 T K (d v) (d (v + h)) k HK HT Hk).
    intros l Hl Hlk. apply Hoth; assumption. }
  set (B := 2 * (Rabs a + 1) ^ 2 / T + 1).
  assert (HB : 0 < B).
  { unfold B. assert (0 <= 2 * (Rabs a + 1) ^ 2 / T); [|lra].
    unfold Rdiv. apply Rmult_le_pos; [|left; apply Rinv_0_lt_compat; lra].
    apply Rmult_le_pos; [lra|apply pow2_ge_0]. }
  intros eps Heps.
  exists (mkposreal (Rmin 1 (eps / B)) ltac:(apply Rmin_pos; [lra|apply Rdiv_lt_0_compat; lra])).
  intros h Hh0 Hh. simpl in Hh. fold G. fold r. fold a.
  assert (Hh1 : Rabs h < 1) by (eapply Rlt_le_trans; [exact Hh|apply Rmin_l]).
  assert (HhB : Rabs h < eps / B) by (eapply Rlt_le_trans; [exact Hh|apply Rmin_r]).
  set (Q := G (v + h) - G v). specialize (Henv h). fold Q in Henv.
  (* |Q / h - r a| <= |Q - r Delta| / |h| + r |h| <= |r' - r| |a + h| + |h| *)
  assert (E : Q / h - r v * a = (Q - r v * (h * (a + h))) / h + r v * h) by (field; exact Hh0).
  change (free_point Entmax15 T K (dist D X (upd C k j (v + h)) i) -
     free_point Entmax15 T K (dist D X (upd C k j v) i)) with Q.
  change (entmax K (fun l : nat => - dist D X (upd C k j v) i l / T) k) with (r v).
  rewrite E.
  assert (HQ : Rabs (Q - r v * (h * (a + h))) <= Rabs (r (v + h) - r v) * Rabs (h * (a + h))).
  { rewrite <- Rabs_mult. apply Rabs_le. split.
    - assert (Q - r v * (h * (a + h)) >= (r (v + h) - r v) * (h * (a + h))) by lra.
      pose proof (Rle_abs ((r (v + h) - r v) * (h * (a + h)))). pose proof (Rabs_pos ((r (v + h) - r v) * (h * (a + h)))).
      assert (- Rabs ((r (v + h) - r v) * (h * (a + h))) <= (r (v + h) - r v) * (h * (a + h))).
      { rewrite <- Rabs_Ropp. replace (- ((r (v + h) - r v) * (h * (a + h)))) with (- ((r (v + h) - r v) * (h * (a + h)))) by ring.
        pose proof (Rle_abs (- ((r (v + h) - r v) * (h * (a + h))))). lra. }
      lra.
    - pose proof (Rabs_pos ((r (v + h) - r v) * (h * (a + h)))). lra. }
  assert (Hah : Rabs (a + h) <= Rabs a + 1) by (eapply Rle_trans; [apply Rabs_triang|lra]).
  assert (Hhp : 0 < Rabs h) by (apply Rabs_pos_lt, Hh0).
  assert (T1 : Rabs ((Q - r v * (h * (a + h))) / h) <= 2 * (Rabs a + 1) ^ 2 / T * Rabs h).
  { unfold Rdiv at 1. rewrite Rabs_mult, Rabs_inv.
    apply (Rmult_le_reg_r (Rabs h)); [exact Hhp|]. rewrite Rmult_assoc, Rinv_l by lra. rewrite Rmult_1_r.
    eapply Rle_trans; [exact HQ|]. pose proof (Hlip h) as L. rewrite Rabs_mult in L |- *.
    assert (0 <= Rabs (a + h)) by apply Rabs_pos.
    assert (Rabs (r (v + h) - r v) * (Rabs h * Rabs (a + h)) <= 2 * (Rabs h * Rabs (a + h)) / T * (Rabs h * Rabs (a + h)))
      by (apply Rmult_le_compat_r; [apply Rmult_le_pos; apply Rabs_pos|exact L]).
    eapply Rle_trans; [exact H0|].
    replace (2 * (Rabs h * Rabs (a + h)) / T * (Rabs h * Rabs (a + h))) with
      (2 * Rabs (a + h) ^ 2 / T * Rabs h * Rabs h) by (field; lra).
    apply Rmult_le_compat_r; [apply Rabs_pos|]. apply Rmult_le_compat_r; [apply Rabs_pos|].
    unfold Rdiv. apply Rmult_le_compat_r; [left; apply Rinv_0_lt_compat; lra|].
    apply Rmult_le_compat_l; [lra|]. apply pow_incr. split; [apply Rabs_pos|exact Hah]. }
  assert (T2 : Rabs (r v * h) <= Rabs h).
  { rewrite Rabs_mult. destruct (Hr1 v). rewrite (Rabs_right (r v)) by lra.
    pose proof (Rabs_pos h). nra. }
  eapply Rle_lt_trans; [apply Rabs_triang|].
  apply Rle_lt_trans with (B * Rabs h); [unfold B; lra|].
  apply (Rmult_lt_reg_r (/ B)); [apply Rinv_0_lt_compat, HB|].
  replace (B * Rabs h * / B) with (Rabs h) by (field; lra). exact HhB.
Qed.

(** grad_{c_kj} F_T = (2/N) sum_i r_ik (c_kj - x_ij), entmax-1.5. *)
Theorem is_derive_F_entmax T D N K X C k j : (0 < N)%nat -> (0 < K)%nat -> 0 < T -> (k < K)%nat -> (j < D)%nat ->
  is_derive (fun v => F Entmax15 T D N K X (upd C k j v)) (C k j)
    (2 / INR N * sumf N (fun i => resp Entmax15 T D K X C i k * (C k j - X i j))).
Proof.
  intros HN HK HT Hk Hj. unfold F.
  apply (is_derive_ext_R (fun v => / INR N * sumf N (fun i => free_point Entmax15 T K (dist D X (upd C k j v) i)))).
  { intros v. unfold Rdiv. ring. }
  replace (2 / INR N * sumf N (fun i => resp Entmax15 T D K X C i k * (C k j - X i j)))
    with (/ INR N * sumf N (fun i => entmax K (fun l => - dist D X (upd C k j (C k j)) i l / T) k * (2 * (C k j - X i j)))).
  - apply is_derive_scal. apply (is_derive_sumf N (fun i w => free_point Entmax15 T K (dist D X (upd C k j w) i))).
    intros i _. apply is_derive_free_point_entmax; assumption.
  - rewrite <- !sumf_scal. apply sumf_ext. intros i _. unfold resp. cbn [rmap].
    unfold entmax. rewrite (tau_ext K _ (fun l => - dist D X C i l / T / 2))
      by (intros; rewrite dist_upd_same; reflexivity).
    rewrite dist_upd_same. field. apply Rgt_not_eq, INR_pos, HN.
Qed.

(** Both maps. *)
Theorem is_derive_F kd T D N K X C k j : (0 < N)%nat -> (0 < K)%nat -> 0 < T -> (k < K)%nat -> (j < D)%nat ->
  is_derive (fun v => F kd T D N K X (upd C k j v)) (C k j)
    (2 / INR N * sumf N (fun i => resp kd T D K X C i k * (C k j - X i j))).
Proof. destruct kd; [apply is_derive_F_softmax|apply is_derive_F_entmax]. Qed.

(** ** Claim [step-size]. *)

(** For any weights w with n_k = sum_i w_ik > 0:
    c_kj - N/(2 n_k) * (2/N) sum_i w_ik (c_kj - x_ij) = sum_i w_ik x_ij / n_k. *)
Lemma gradient_step_is_weighted_mean N X C w k j : (0 < N)%nat -> 0 < mass N w k ->
  C k j - INR N / (2 * mass N w k) * (2 / INR N * sumf N (fun i => w i k * (C k j - X i j))) =
  wstep N X C w k j.
Proof.
  intros HN Hm. unfold wstep. destruct (Rle_dec (mass N w k) 0) as [|_]; [lra|].
  rewrite (sumf_ext N _ (fun i => C k j * w i k - w i k * X i j)) by (intros; ring).
  rewrite sumf_minus, sumf_scal. unfold mass in *. field.
  split; [lra|apply Rgt_not_eq, INR_pos, HN].
Qed.

(** The soft step is the gradient step on F_T with per-centre step N/(2 n_k), both maps. *)
Theorem step_size kd T D N K X C k j : (0 < N)%nat -> (0 < K)%nat -> 0 < T -> (k < K)%nat -> (j < D)%nat ->
  0 < mass N (resp kd T D K X C) k ->
  C k j - INR N / (2 * mass N (resp kd T D K X C) k) * Derive (fun v => F kd T D N K X (upd C k j v)) (C k j)
  = soft_step kd T D N K X C k j.
Proof.
  intros HN HK HT Hk Hj Hm.
  replace (Derive (fun v => F kd T D N K X (upd C k j v)) (C k j))
    with (2 / INR N * sumf N (fun i => resp kd T D K X C i k * (C k j - X i j))).
  - apply gradient_step_is_weighted_mean; assumption.
  - symmetry. apply is_derive_unique, is_derive_F; assumption.
Qed.
