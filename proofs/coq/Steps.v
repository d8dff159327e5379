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

(** ** Euclidean norms in R^D. *)

Definition dot (D : nat) (a b : nat -> R) : R := sumf D (fun j => a j * b j).

Lemma dot_self_nonneg D a : 0 <= dot D a a.
Proof. apply sumf_nonneg. intros. nra. Qed.

Lemma norm_sq D a : norm D a ^ 2 = dot D a a.
Proof.
  unfold norm, dot. rewrite pow2_sqrt; [|apply sumf_nonneg; intros; apply pow2_ge_0].
  apply sumf_ext. intros; ring.
Qed.

Lemma norm_nonneg D a : 0 <= norm D a.
Proof. apply sqrt_pos. Qed.

Lemma cauchy_schwarz D a b : dot D a b ^ 2 <= dot D a a * dot D b b.
Proof.
  destruct (Req_EM_T (dot D a a) 0) as [Ha|Ha].
  - assert (Hz : forall j, (j < D)%nat -> a j = 0).
    { intros j Hj. pose proof (sumf_zero_nonneg D (fun j => a j * a j) ltac:(intros; nra) Ha j Hj). nra. }
    assert (dot D a b = 0).
    { unfold dot. rewrite <- (sumf_zero D). apply sumf_ext. intros j Hj. rewrite Hz by exact Hj. ring. }
    rewrite H, Ha. lra.
  - pose proof (dot_self_nonneg D a). set (t := dot D a b / dot D a a).
    assert (H0 : 0 <= sumf D (fun j => (t * a j - b j) ^ 2)) by (apply sumf_nonneg; intros; apply pow2_ge_0).
    rewrite (sumf_ext D _ (fun j => t ^ 2 * (a j * a j) - 2 * t * (a j * b j) + b j * b j)) in H0 by (intros; ring).
    rewrite sumf_plus, sumf_minus, !sumf_scal in H0. fold (dot D a a) (dot D a b) (dot D b b) in H0.
    unfold t in H0.
    assert (0 <= dot D b b - dot D a b ^ 2 / dot D a a).
    { replace (dot D b b - dot D a b ^ 2 / dot D a a) with
        ((dot D a b / dot D a a) ^ 2 * dot D a a - 2 * (dot D a b / dot D a a) * dot D a b + dot D b b)
        by (field; exact Ha). exact H0. }
    assert (0 < dot D a a) by lra.
    apply (Rmult_le_reg_r (/ dot D a a)); [apply Rinv_0_lt_compat; lra|].
    replace (dot D a a * dot D b b * / dot D a a) with (dot D b b) by (field; exact Ha). lra.
Qed.

Lemma norm_triangle D a b : norm D (fun j => a j + b j) <= norm D a + norm D b.
Proof.
  pose proof (norm_nonneg D a). pose proof (norm_nonneg D b). pose proof (norm_nonneg D (fun j => a j + b j)).
  apply Rsqr_incr_0_var; [|lra]. unfold Rsqr.
  replace (norm D (fun j => a j + b j) * norm D (fun j => a j + b j)) with (norm D (fun j => a j + b j) ^ 2) by ring.
  replace ((norm D a + norm D b) * (norm D a + norm D b)) with (norm D a ^ 2 + 2 * (norm D a * norm D b) + norm D b ^ 2) by ring.
  rewrite !norm_sq.
  assert (E : dot D (fun j => a j + b j) (fun j => a j + b j) = dot D a a + 2 * dot D a b + dot D b b).
  { unfold dot. rewrite <- sumf_scal, <- !sumf_plus. apply sumf_ext. intros; ring. }
  rewrite E. assert (dot D a b <= norm D a * norm D b); [|lra].
  assert (dot D a b ^ 2 <= (norm D a * norm D b) ^ 2).
  { replace ((norm D a * norm D b) ^ 2) with (norm D a ^ 2 * norm D b ^ 2) by ring.
    rewrite !norm_sq. apply cauchy_schwarz. }
  assert (0 <= norm D a * norm D b) by (apply Rmult_le_pos; assumption).
  destruct (Rle_lt_dec (dot D a b) (norm D a * norm D b)); [assumption|nra].
Qed.

Lemma norm_scal D c a : norm D (fun j => c * a j) = Rabs c * norm D a.
Proof.
  unfold norm. rewrite (sumf_ext D _ (fun j => c ^ 2 * a j ^ 2)) by (intros; ring).
  rewrite sumf_scal, sqrt_mult_alt by apply pow2_ge_0. rewrite <- sqrt_Rsqr_abs. unfold Rsqr.
  f_equal. f_equal. ring.
Qed.

Lemma norm_ext D a b : (forall j, (j < D)%nat -> a j = b j) -> norm D a = norm D b.
Proof. intros H. unfold norm. f_equal. apply sumf_ext. intros j Hj. rewrite H by exact Hj. reflexivity. Qed.

(** || sum_i w_i v_i || <= sum_i |w_i| ||v_i||. *)
Lemma norm_sumf D N (w : nat -> R) (v : nat -> nat -> R) :
  norm D (fun j => sumf N (fun i => w i * v i j)) <= sumf N (fun i => Rabs (w i) * norm D (v i)).
Proof.
  induction N as [|N IH]; simpl.
  - unfold norm. rewrite sumf_ext with (g := fun _ => 0) by (intros; simpl; ring).
    rewrite sumf_zero, sqrt_0. lra.
  - eapply Rle_trans; [apply (norm_triangle D (fun j => sumf N (fun i => w i * v i j)) (fun j => w N * v N j))|].
    rewrite norm_scal. lra.
Qed.

Lemma coord_le_norm D a j : (j < D)%nat -> Rabs (a j) <= norm D a.
Proof.
  intros Hj. unfold norm. rewrite <- sqrt_Rsqr_abs. apply sqrt_le_1_alt. unfold Rsqr.
  replace (a j * a j) with (a j ^ 2) by ring.
  apply (sumf_term_le D (fun j => a j ^ 2)); [intros; apply pow2_ge_0|exact Hj].
Qed.

(** ** Claim [soft-step-limit]. *)

Lemma wstep_ext N X C w w' k j : (forall i, (i < N)%nat -> w i k = w' i k) ->
  wstep N X C w k j = wstep N X C w' k j.
Proof.
  intros H. unfold wstep, mass.
  rewrite (sumf_ext N (fun i => w i k) (fun i => w' i k)) by exact H.
  rewrite (sumf_ext N (fun i => w i k * X i j) (fun i => w' i k * X i j)) by (intros i Hi; rewrite H by exact Hi; reflexivity).
  reflexivity.
Qed.

(** Every point's non-nearest centres are at least m farther than its nearest one
    (nearest = [assign], ties to the lowest index). With m > 0 no point is tied; the
    registry's m = min_i (d_i(2) - d_i(1)) is the largest such m. *)
Definition margin_ge (D N K : nat) (X C : nat -> nat -> R) (m : R) : Prop :=
  forall i k, (i < N)%nat -> (k < K)%nat -> k <> assign D K X C i ->
    m <= dist D X C i k - dist D X C i (assign D K X C i).

(** (a) entmax-1.5: for 0 < T <= m/2 the soft step is Lloyd's step, empty cells included. *)
Theorem entmax_soft_step_is_lloyd T D N K X C m : (0 < K)%nat -> 0 < T -> margin_ge D N K X C m -> 2 * T <= m ->
  forall k j, (k < K)%nat -> soft_step Entmax15 T D N K X C k j = lloyd_step D N K X C k j.
Proof.
  intros HK HT Hm HTm k j Hk. unfold soft_step, lloyd_step. apply wstep_ext. intros i Hi.
  set (a := assign D K X C i). assert (Ha : (a < K)%nat) by apply amin_lt, HK.
  destruct (one_hot_of_gap K T (dist D X C i) HK HT a Ha) as [_ [H1 H0]].
  { intros l Hl Hla. specialize (Hm i l Hi Hl Hla). fold a in Hm. lra. }
  unfold resp, hard. fold a. cbn [rmap]. unfold ent_row in H1, H0.
  destruct (Nat.eq_dec a k) as [<-|Hak]; [exact H1|apply H0; [exact Hk|auto]].
Qed.

(** Softmax weights under a margin m: the nearest weight is at least 1 - (K-1) e^(-m/T), the
    others at most e^(-m/T). *)
Lemma softmax_weight_bounds T K d a m : (0 < K)%nat -> 0 < T -> (a < K)%nat ->
  (forall l, (l < K)%nat -> l <> a -> m <= d l - d a) ->
  (forall k, (k < K)%nat -> k <> a -> softmax K (fun l => - d l / T) k <= exp (- m / T)) /\
  1 - softmax K (fun l => - d l / T) a <= (INR K - 1) * exp (- m / T).
Proof.
  intros HK HT Ha Hm.
  assert (Hsh : forall k, (k < K)%nat ->
    softmax K (fun l => - d l / T) k = softmax K (fun l => - (d l - d a) / T) k).
  { intros k Hk. rewrite <- (softmax_shift K (fun l => - (d l - d a) / T) (- d a / T) k HK).
    apply softmax_ext; [|exact Hk]. intros; field; lra. }
  assert (Hz : 1 <= sumf K (fun l => exp (- (d l - d a) / T))).
  { replace 1 with (exp (- (d a - d a) / T)) by (replace (- (d a - d a) / T) with 0 by (field; lra); apply exp_0).
    apply (sumf_term_le K (fun l => exp (- (d l - d a) / T))); [intros; left; apply exp_pos|exact Ha]. }
  assert (Hk : forall k, (k < K)%nat -> k <> a -> softmax K (fun l => - d l / T) k <= exp (- m / T)).
  { intros k Hk Hka. rewrite Hsh by exact Hk. unfold softmax.
    assert (exp (- (d k - d a) / T) <= exp (- m / T)).
    { specialize (Hm k Hk Hka). destruct (Rle_lt_or_eq_dec (- (d k - d a) / T) (- m / T)) as [Hl|He].
      - apply (Rmult_le_reg_r T); [exact HT|]. field_simplify; lra.
      - left. apply exp_increasing, Hl.
      - rewrite He. lra. }
    pose proof (exp_pos (- (d k - d a) / T)).
    apply Rle_trans with (exp (- (d k - d a) / T)); [|assumption].
    unfold Rdiv at 1. rewrite <- (Rmult_1_r (exp (- (d k - d a) / T))) at 2.
    apply Rmult_le_compat_l; [lra|]. rewrite <- Rinv_1. apply Rinv_le_contravar; lra. }
  split; [exact Hk|].
  destruct (softmax_simplex K (fun l => - d l / T) HK) as [Hp Hs].
  rewrite (sumf_split K a) in Hs by exact Ha.
  assert (sumf K (fun i => if Nat.eq_dec i a then 0 else softmax K (fun l => - d l / T) i)
          <= sumf K (fun i => if Nat.eq_dec i a then 0 else exp (- m / T))).
  { apply sumf_le. intros i Hi. destruct (Nat.eq_dec i a); [lra|apply Hk; assumption]. }
  rewrite sumf_others in H by exact Ha. lra.
Qed.

(** The cell size |S_k| and the bound B_k of the registry. *)
Definition cell_size (D N K : nat) (X C : nat -> nat -> R) (k : nat) : R := mass N (hard D K X C) k.

Definition limit_bound (N K : nat) (s Rk eta : R) : R :=
  eta * ((INR K - 1) * s + INR N - s) * Rk / (s * (1 - (INR K - 1) * eta)).

(** (b) softmax: with eta = e^(-m/T), (K - 1) eta < 1 and a non-empty cell k,
    ||soft_k - m_k|| <= eta ((K-1) |S_k| + N - |S_k|) R_k / (|S_k| (1 - (K-1) eta)),
    R_k = max_i ||x_i - m_k||. *)
Theorem softmax_soft_step_bound T D N K X C m k : (0 < N)%nat -> (0 < K)%nat -> 0 < T -> (k < K)%nat ->
  margin_ge D N K X C m -> 0 < cell_size D N K X C k -> (INR K - 1) * exp (- m / T) < 1 ->
  norm D (fun j => soft_step Softmax T D N K X C k j - lloyd_step D N K X C k j) <=
  limit_bound N K (cell_size D N K X C k)
    (maxk N (fun i => norm D (fun j => X i j - lloyd_step D N K X C k j))) (exp (- m / T)).
Proof.
  intros HN HK HT Hk Hm Hs Heta.
  set (s := cell_size D N K X C k) in *. set (eta := exp (- m / T)) in *.
  set (r := fun i => resp Softmax T D K X C i k). set (h := fun i => hard D K X C i k).
  set (n := mass N (resp Softmax T D K X C) k).
  set (L := fun j => lloyd_step D N K X C k j).
  set (Rk := maxk N (fun i => norm D (fun j => X i j - L j))).
  assert (Hr0 : forall i, 0 < r i) by (intros; apply softmax_pos, HK).
  assert (Hn : 0 < n).
  { unfold n, mass. apply Rlt_le_trans with (r O); [apply Hr0|].
    apply (sumf_term_le N r); [intros; left; apply Hr0|exact HN]. }
  assert (Hh01 : forall i, h i = 0 \/ h i = 1) by (intros; unfold h, hard; destruct Nat.eq_dec; auto).
  (* per-point weight bounds *)
  assert (Hw : forall i, (i < N)%nat -> Rabs (r i - h i) <= h i * ((INR K - 1) * eta) + (1 - h i) * eta
                                           /\ h i * (1 - (INR K - 1) * eta) <= r i).
  { intros i Hi. set (a := assign D K X C i).
    destruct (softmax_weight_bounds T K (dist D X C i) a m HK HT ltac:(apply amin_lt, HK)) as [Ho Hn0].
    { intros l Hl Hla. apply Hm; assumption. }
    destruct (softmax_simplex K (fun l => - dist D X C i l / T) HK) as [_ Hsum].
    assert (Hri1 : r i <= 1) by (apply (simplex_le_one K _ k (softmax_simplex K _ HK) Hk)).
    unfold h, hard. fold a. destruct (Nat.eq_dec a k) as [<-|Hak].
    - unfold r, resp. cbn [rmap]. fold eta in Hn0.
      pose proof (simplex_le_one K _ a (softmax_simplex K (fun l => - dist D X C i l / T) HK) Hk).
      rewrite Rabs_left1 by lra. split; lra.
    - pose proof (Ho k Hk (not_eq_sym Hak)). fold eta in H. pose proof (Hr0 i). unfold r, resp in H0 |- *. cbn [rmap] in H0 |- *.
      rewrite Rabs_right by lra. split; lra. }
  (* lloyd: L_j = sum_i h_i x_ij / s *)
  assert (HL : forall j, L j = sumf N (fun i => h i * X i j) / s).
  { intros j. unfold L, lloyd_step, wstep. fold (cell_size D N K X C k). fold s.
    destruct (Rle_dec s 0); [lra|reflexivity]. }
  assert (HS : forall j, soft_step Softmax T D N K X C k j = sumf N (fun i => r i * X i j) / n).
  { intros j. unfold soft_step, wstep. fold n. destruct (Rle_dec n 0); [lra|reflexivity]. }
  (* the deviation as a weighted sum of x_i - m_k *)
  assert (Hdev : forall j, soft_step Softmax T D N K X C k j - L j =
                 sumf N (fun i => ((r i - h i) / n) * (X i j - L j))).
  { intros j. rewrite HS.
    assert (Hsum : sumf N (fun i => h i * X i j) = s * L j) by (rewrite HL; field; lra).
    rewrite (sumf_ext N (fun i => ((r i - h i) / n) * (X i j - L j))
      (fun i => / n * (r i * X i j) - / n * (h i * X i j) - (L j / n) * r i + (L j / n) * h i))
      by (intros; field; lra).
    rewrite !sumf_plus, !sumf_minus, !sumf_scal, Hsum.
    change (sumf N r) with n. change (sumf N h) with s. field. lra. }
  rewrite (norm_ext D _ (fun j => sumf N (fun i => ((r i - h i) / n) * (X i j - L j)))) by (intros; apply Hdev).
  eapply Rle_trans; [apply norm_sumf|].
  (* bound each term by |r - h| Rk / n *)
  apply Rle_trans with (sumf N (fun i => (h i * ((INR K - 1) * eta) + (1 - h i) * eta) * Rk) / n).
  { unfold Rdiv at 2. rewrite <- sumf_scal_r. apply sumf_le. intros i Hi.
    unfold Rdiv. rewrite Rabs_mult, (Rabs_right (/ n)) by (left; apply Rinv_0_lt_compat, Hn).
    destruct (Hw i Hi) as [Hb _].
    assert (norm D (fun j => X i j - L j) <= Rk) by (apply (maxk_ge N (fun i => norm D (fun j => X i j - L j))); exact Hi).
    pose proof (Rabs_pos (r i - h i)). pose proof (norm_nonneg D (fun j => X i j - L j)).
    assert (0 < / n) by (apply Rinv_0_lt_compat, Hn).
    assert (Rabs (r i - h i) * norm D (fun j => X i j - L j) <= (h i * ((INR K - 1) * eta) + (1 - h i) * eta) * Rk).
    { apply Rmult_le_compat; assumption. }
    nra. }
  (* sum_i h_i = s, and n >= s (1 - (K-1) eta) *)
  assert (Hsh : sumf N h = s) by reflexivity.
  assert (Hnlow : s * (1 - (INR K - 1) * eta) <= n).
  { unfold n, mass. fold r. rewrite <- Hsh, <- sumf_scal_r. apply sumf_le. intros i Hi. apply Hw, Hi. }
  assert (Hnum : sumf N (fun i => (h i * ((INR K - 1) * eta) + (1 - h i) * eta) * Rk) =
                 ((INR K - 1) * s + INR N - s) * eta * Rk).
  { rewrite (sumf_ext N _ (fun i => ((INR K - 1) * eta * Rk - eta * Rk) * h i + eta * Rk)) by (intros; ring).
    rewrite sumf_plus, sumf_scal, sumf_const, Hsh. ring. }
  rewrite Hnum. unfold limit_bound. fold Rk.
  assert (HR : 0 <= Rk).
  { unfold Rk. apply Rle_trans with (norm D (fun j => X O j - L j)); [apply norm_nonneg|].
    apply (maxk_ge N (fun i => norm D (fun j => X i j - L j))), HN. }
  assert (Heta0 : 0 < eta) by apply exp_pos.
  assert (HsN : s <= INR N).
  { rewrite <- Hsh. rewrite <- (Rmult_1_r (INR N)), <- sumf_const. apply sumf_le. intros i _.
    destruct (Hh01 i) as [-> | ->]; lra. }
  assert (HK1 : 0 <= INR K - 1) by (pose proof (le_INR 1 K HK); simpl in H; lra).
  assert (Hnum0 : 0 <= ((INR K - 1) * s + INR N - s) * eta * Rk).
  { apply Rmult_le_pos; [|exact HR]. apply Rmult_le_pos; [nra|lra]. }
  assert (Hden : 0 < s * (1 - (INR K - 1) * eta)) by (apply Rmult_lt_0_compat; lra).
  replace (eta * ((INR K - 1) * s + INR N - s) * Rk / (s * (1 - (INR K - 1) * eta)))
    with (((INR K - 1) * s + INR N - s) * eta * Rk / (s * (1 - (INR K - 1) * eta))) by (field; lra).
  unfold Rdiv. apply Rmult_le_compat_l; [exact Hnum0|]. apply Rinv_le_contravar; assumption.
Qed.

Lemma ball_R x e y : Rabs (y - x) < e -> ball x e y.
Proof. intros H. unfold ball. simpl. unfold AbsRing_ball, abs, minus, plus, opp. simpl. exact H. Qed.

Lemma at_right_0_intro (P : R -> Prop) : (exists d : posreal, forall T, 0 < T < d -> P T) -> at_right 0 P.
Proof.
  intros [d H]. unfold at_right, within, locally. exists d. intros T HT HT0. apply H. split; [exact HT0|].
  unfold ball in HT. simpl in HT. unfold AbsRing_ball, abs, minus, plus, opp in HT. simpl in HT.
  rewrite Ropp_0, Rplus_0_r in HT. apply Rabs_def2 in HT. lra.
Qed.

(** exp(-m/T) < theta for 0 < T < m / (- log theta). *)
Lemma exp_small m theta T : 0 < m -> 0 < theta < 1 -> 0 < T < m / (- ln theta) -> exp (- m / T) < theta.
Proof.
  intros Hm Ht HT. assert (Hl : ln theta < 0) by (rewrite <- ln_1; apply ln_increasing; lra).
  rewrite <- (exp_ln theta) by lra. apply exp_increasing.
  assert (T * (- ln theta) < m).
  { destruct HT as [HT0 HT1]. apply (Rmult_lt_compat_r (- ln theta)) in HT1; [|lra].
    replace (m / - ln theta * - ln theta) with m in HT1 by (field; lra). exact HT1. }
  apply (Rmult_lt_reg_r T); [lra|]. replace (- m / T * T) with (- m) by (field; lra). lra.
Qed.

(** As T -> 0+ the softmax soft step tends to Lloyd's step at every non-empty cell, when no
    point is tied (a margin m > 0). *)
Theorem softmax_soft_step_limit D N K X C m k j : (0 < N)%nat -> (0 < K)%nat -> (k < K)%nat -> (j < D)%nat ->
  0 < m -> margin_ge D N K X C m -> 0 < cell_size D N K X C k ->
  filterlim (fun T => soft_step Softmax T D N K X C k j) (at_right 0) (locally (lloyd_step D N K X C k j)).
Proof.
  intros HN HK Hk Hj Hm Hmg Hs. apply filterlim_locally. intros eps.
  set (s := cell_size D N K X C k) in *.
  set (Rk := maxk N (fun i => norm D (fun j => X i j - lloyd_step D N K X C k j))).
  set (c1 := ((INR K - 1) * s + INR N - s) * Rk).
  assert (HKr : 1 <= INR K) by (pose proof (le_INR 1 K HK); simpl in H; lra).
  assert (HR : 0 <= Rk).
  { unfold Rk. apply Rle_trans with (norm D (fun j => X O j - lloyd_step D N K X C k j)); [apply norm_nonneg|].
    apply (maxk_ge N (fun i => norm D (fun j => X i j - lloyd_step D N K X C k j))), HN. }
  assert (HsN : s <= INR N).
  { unfold s, cell_size, mass. rewrite <- (Rmult_1_r (INR N)), <- sumf_const. apply sumf_le. intros i _.
    unfold hard. destruct Nat.eq_dec; lra. }
  assert (Hc1 : 0 <= c1) by (unfold c1; apply Rmult_le_pos; [nra|exact HR]).
  pose proof (cond_pos eps) as He.
  set (theta := Rmin (/ (2 * INR K)) (eps * s / (2 * c1 + 1))).
  assert (Ht0 : 0 < theta).
  { apply Rmin_pos; [apply Rinv_0_lt_compat; lra|]. apply Rdiv_lt_0_compat; [nra|lra]. }
  assert (Ht1 : theta <= / (2 * INR K)) by apply Rmin_l.
  assert (Ht2 : theta <= eps * s / (2 * c1 + 1)) by apply Rmin_r.
  assert (HK2 : / (2 * INR K) <= / 2) by (apply Rinv_le_contravar; lra).
  assert (Hl : ln theta < 0) by (rewrite <- ln_1; apply ln_increasing; lra).
  apply at_right_0_intro. exists (mkposreal (m / (- ln theta)) ltac:(apply Rdiv_lt_0_compat; lra)).
  intros T HT. simpl in HT. apply ball_R.
  assert (Heta : exp (- m / T) < theta) by (apply exp_small; [exact Hm|lra|exact HT]).
  set (eta := exp (- m / T)) in *. assert (Heta0 : 0 < eta) by apply exp_pos.
  assert (HKeta : (INR K - 1) * eta <= / 2).
  { assert ((INR K - 1) * eta <= INR K * theta) by nra.
    assert (INR K * theta <= INR K * / (2 * INR K)) by (apply Rmult_le_compat_l; lra).
    replace (INR K * / (2 * INR K)) with (/ 2) in H0 by (field; lra). lra. }
  pose proof (softmax_soft_step_bound T D N K X C m k HN HK ltac:(lra) Hk Hmg Hs ltac:(fold eta; lra)) as B.
  fold s eta Rk in B.
  pose proof (coord_le_norm D (fun j => soft_step Softmax T D N K X C k j - lloyd_step D N K X C k j) j) as Hc.
  specialize (Hc Hj).
  assert (Hs2 : 0 < s * (1 - (INR K - 1) * eta)) by (apply Rmult_lt_0_compat; lra).
  assert (Hb : limit_bound N K s Rk eta <= 2 * eta * c1 / s).
  { unfold limit_bound.
    replace (eta * ((INR K - 1) * s + INR N - s) * Rk) with (eta * c1) by (unfold c1; ring).
    replace (2 * eta * c1 / s) with (eta * c1 / (s * / 2)) by (field; lra).
    unfold Rdiv. apply Rmult_le_compat_l; [apply Rmult_le_pos; lra|].
    apply Rinv_le_contravar; [nra|]. apply Rmult_le_compat_l; lra. }
  assert (Hb2 : 2 * eta * c1 / s <= 2 * theta * c1 / s).
  { unfold Rdiv. apply Rmult_le_compat_r; [left; apply Rinv_0_lt_compat; lra|]. nra. }
  assert (Hb3 : 2 * theta * c1 / s <= 2 * c1 * eps / (2 * c1 + 1)).
  { replace (2 * theta * c1 / s) with (2 * c1 * (theta / s)) by (field; lra).
    replace (2 * c1 * eps / (2 * c1 + 1)) with (2 * c1 * ((eps * s / (2 * c1 + 1)) / s)) by (field; lra).
    apply Rmult_le_compat_l; [lra|]. unfold Rdiv. apply Rmult_le_compat_r; [left; apply Rinv_0_lt_compat; lra|lra]. }
  assert (Hb4 : 2 * c1 * eps / (2 * c1 + 1) < eps).
  { apply (Rmult_lt_reg_r (2 * c1 + 1)); [lra|]. replace (2 * c1 * eps / (2 * c1 + 1) * (2 * c1 + 1)) with (2 * c1 * eps)
      by (field; lra). nra. }
  lra.
Qed.

(** The hypothesis "no empty cell" cannot be dropped for softmax: X = {0}, C = (0, 5). The
    cell of c_1 is empty, Lloyd keeps c_1 = 5, and every softmax soft step sends it to 0. *)
Theorem softmax_limit_needs_nonempty_cells :
  let X := fun _ _ : nat => 0 in
  let C := fun k _ : nat => if Nat.eq_dec k O then 0 else 5 in
  margin_ge 1 1 2 X C 25 /\ cell_size 1 1 2 X C 1 = 0 /\ lloyd_step 1 1 2 X C 1 0 = 5 /\
  forall T, 0 < T -> soft_step Softmax T 1 1 2 X C 1 0 = 0.
Proof.
  intros X C.
  assert (Hd : forall k, dist 1 X C 0 k = if Nat.eq_dec k O then 0 else 25).
  { intros k. unfold dist, dist2, X, C. simpl. destruct (Nat.eq_dec k O); ring. }
  assert (Ha : assign 1 2 X C 0 = O).
  { unfold assign, amin. simpl. rewrite !Hd. simpl. destruct (Rlt_dec 25 0); [lra|reflexivity]. }
  assert (Hcs : cell_size 1 1 2 X C 1 = 0).
  { unfold cell_size, mass, hard. simpl. rewrite Ha. simpl. ring. }
  split; [|split; [exact Hcs|split]].
  - intros i k Hi Hk Hka. assert (i = O) by lia. subst i. rewrite Ha in *.
    assert (k = 1%nat) by lia. subst k. rewrite !Hd. simpl. lra.
  - unfold lloyd_step, wstep. fold (cell_size 1 1 2 X C 1). rewrite Hcs.
    destruct (Rle_dec 0 0); [reflexivity|lra].
  - intros T HT. unfold soft_step, wstep.
    destruct (Rle_dec (mass 1 (resp Softmax T 1 2 X C) 1) 0) as [H|H].
    + exfalso. unfold mass in H. simpl in H. pose proof (softmax_pos 2 (fun l => - dist 1 X C 0 l / T) 1 ltac:(lia)).
      unfold resp in H. simpl in H. lra.
    + simpl. unfold X. unfold Rdiv. ring.
Qed.

(** Claim [soft-step-limit], both parts together. *)
Theorem soft_step_limit D N K X C m : (0 < N)%nat -> (2 <= K)%nat -> 0 < m -> margin_ge D N K X C m ->
  (* (a) entmax-1.5: exactly Lloyd's step for 0 < T <= m/2, empty cells included *)
  (forall T k j, 0 < T -> 2 * T <= m -> (k < K)%nat ->
     soft_step Entmax15 T D N K X C k j = lloyd_step D N K X C k j) /\
  (* (b) softmax, at a non-empty cell: the bound B_k when (K-1) e^(-m/T) < 1, and the limit *)
  (forall T k, 0 < T -> (k < K)%nat -> 0 < cell_size D N K X C k -> (INR K - 1) * exp (- m / T) < 1 ->
     norm D (fun j => soft_step Softmax T D N K X C k j - lloyd_step D N K X C k j) <=
     limit_bound N K (cell_size D N K X C k)
       (maxk N (fun i => norm D (fun j => X i j - lloyd_step D N K X C k j))) (exp (- m / T))) /\
  (forall k j, (k < K)%nat -> (j < D)%nat -> 0 < cell_size D N K X C k ->
     filterlim (fun T => soft_step Softmax T D N K X C k j) (at_right 0) (locally (lloyd_step D N K X C k j))).
Proof.
  intros HN HK Hm Hmg. assert (HK0 : (0 < K)%nat) by lia. split; [|split].
  - intros T k j HT HTm Hk. apply (entmax_soft_step_is_lloyd T D N K X C m HK0 HT Hmg HTm k j Hk).
  - intros T k HT Hk Hs He. apply softmax_soft_step_bound; assumption.
  - intros k j Hk Hj Hs. apply (softmax_soft_step_limit D N K X C m k j); assumption.
Qed.

(** ** Parts of claims [entmax-exact-below-margin], [dead-centres] and
    [anneal-coincident-centres] (the parts that are statements about exact reals). *)

(** Below half the margin entmax-1.5 gives the hard responsibilities, and L_T = F_T = J. *)
Theorem entmax_exact_below_margin T D N K X C m : (0 < N)%nat -> (0 < K)%nat -> 0 < T ->
  margin_ge D N K X C m -> 2 * T <= m ->
  (forall i k, (i < N)%nat -> (k < K)%nat -> resp Entmax15 T D K X C i k = hard D K X C i k) /\
  L Entmax15 T D N K X C = J D N K X C /\ F Entmax15 T D N K X C = J D N K X C /\
  (forall k j, (k < K)%nat -> soft_step Entmax15 T D N K X C k j = lloyd_step D N K X C k j).
Proof.
  intros HN HK HT Hm HTm.
  assert (Hr : forall i k, (i < N)%nat -> (k < K)%nat -> resp Entmax15 T D K X C i k = hard D K X C i k).
  { intros i k Hi Hk. set (a := assign D K X C i). assert (Ha : (a < K)%nat) by apply amin_lt, HK.
    destruct (one_hot_of_gap K T (dist D X C i) HK HT a Ha) as [_ [H1 H0]].
    { intros l Hl Hla. specialize (Hm i l Hi Hl Hla). fold a in Hm. lra. }
    unfold resp, hard. fold a. cbn [rmap]. unfold ent_row in H1, H0.
    destruct (Nat.eq_dec a k) as [<-|Hak]; [exact H1|apply H0; [exact Hk|auto]]. }
  assert (Hrow : forall i, (i < N)%nat ->
    sumf K (fun k => resp Entmax15 T D K X C i k * dist D X C i k) = mink K (dist D X C i)).
  { intros i Hi. rewrite (sumf_ext K _ (fun k => hard D K X C i k * dist D X C i k)) by
      (intros k Hk; rewrite Hr by assumption; reflexivity).
    rewrite (sumf_single K (assign D K X C i)); [|apply amin_lt, HK|].
    - unfold hard. rewrite if_eq. unfold mink, assign. ring.
    - intros k _ Hk. unfold hard. destruct (Nat.eq_dec (assign D K X C i) k); [congruence|ring]. }
  split; [exact Hr|split; [|split]].
  - unfold L, J. f_equal. apply sumf_ext. intros i Hi. apply Hrow, Hi.
  - unfold F, J. f_equal. apply sumf_ext. intros i Hi.
    rewrite free_point_closed_form by assumption. unfold gval.
    assert (He : entropy Entmax15 K (rmap Entmax15 K (fun l => - dist D X C i l / T)) = 0).
    { rewrite <- (entropy_vertex Entmax15 K (assign D K X C i)) by (apply amin_lt, HK).
      unfold entropy, tsallis. f_equal. f_equal. apply sumf_ext. intros k Hk.
      change (rmap Entmax15 K (fun l => - dist D X C i l / T) k) with (resp Entmax15 T D K X C i k).
      rewrite Hr by assumption. unfold hard, vertex. destruct (Nat.eq_dec (assign D K X C i) k) as [<-|];
        destruct Nat.eq_dec; try congruence; reflexivity. }
    rewrite He. rewrite Rmult_0_r, Rminus_0_r. apply Hrow, Hi.
  - intros k j Hk. apply (entmax_soft_step_is_lloyd T D N K X C m HK HT Hm HTm k j Hk).
Qed.

(** A dead centre (r_ik = 0 for every i): no mass, zero gradient of F_T, kept by the step. *)
Theorem dead_centre_is_kept T D N K X C k : (0 < N)%nat -> (0 < K)%nat -> 0 < T -> (k < K)%nat ->
  (forall i, (i < N)%nat -> resp Entmax15 T D K X C i k = 0) ->
  mass N (resp Entmax15 T D K X C) k = 0 /\
  (forall j, (j < D)%nat -> is_derive (fun v => F Entmax15 T D N K X (upd C k j v)) (C k j) 0) /\
  (forall j, soft_step Entmax15 T D N K X C k j = C k j).
Proof.
  intros HN HK HT Hk Hdead.
  assert (Hm : mass N (resp Entmax15 T D K X C) k = 0).
  { unfold mass. rewrite <- (sumf_zero N). apply sumf_ext. exact Hdead. }
  split; [exact Hm|split].
  - intros j Hj. pose proof (is_derive_F Entmax15 T D N K X C k j HN HK HT Hk Hj) as H.
    replace 0 with (2 / INR N * sumf N (fun i => resp Entmax15 T D K X C i k * (C k j - X i j))); [exact H|].
    rewrite (sumf_ext N _ (fun _ => 0)) by (intros i Hi; rewrite Hdead by exact Hi; ring).
    rewrite sumf_zero. ring.
  - intros j. unfold soft_step, wstep. rewrite Hm. destruct Rle_dec; [reflexivity|lra].
Qed.

(** Coincident centres get equal responsibilities (both maps, any T) and stay coincident. *)
Theorem coincident_centres_stay_coincident kd T D N K X C k l : (k < K)%nat -> (l < K)%nat ->
  (forall j, (j < D)%nat -> C k j = C l j) ->
  (forall i, resp kd T D K X C i k = resp kd T D K X C i l) /\
  (forall j, (j < D)%nat -> soft_step kd T D N K X C k j = soft_step kd T D N K X C l j).
Proof.
  intros Hk Hl Hc.
  assert (Hd : forall i, dist D X C i k = dist D X C i l).
  { intros i. unfold dist, dist2. apply sumf_ext. intros j Hj. rewrite Hc by exact Hj. reflexivity. }
  assert (Hr : forall i, resp kd T D K X C i k = resp kd T D K X C i l).
  { intros i. unfold resp. destruct kd; cbn [rmap].
    - unfold softmax. rewrite Hd. reflexivity.
    - unfold entmax. rewrite Hd. reflexivity. }
  split; [exact Hr|]. intros j Hj. unfold soft_step, wstep, mass.
  rewrite (sumf_ext N (fun i => resp kd T D K X C i k) (fun i => resp kd T D K X C i l)) by (intros; apply Hr).
  rewrite (sumf_ext N (fun i => resp kd T D K X C i k * X i j) (fun i => resp kd T D K X C i l * X i j))
    by (intros; rewrite Hr; reflexivity).
  rewrite Hc by exact Hj. reflexivity.
Qed.
