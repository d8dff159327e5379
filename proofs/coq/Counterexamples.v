(** * Exact examples and counterexamples: claim [ties-break-trajectories] and the refuted
    claims [dead-centre-revival], [objective-descent], [fixed-points-hull] (the
    counterexample of [entmax-order-converse] is in Entmax.v). Every object is the generic
    definition of Base.v instantiated at the data of the registry. *)

From Coq Require Import Reals Lra Lia.
From Coquelicot Require Import Coquelicot.
From KmeansRBF Require Import Base Sandwich Uniform Entmax Steps.
Open Scope R_scope.

(** Decide the index tests of concrete indices. *)
Ltac eqdec := repeat match goal with
  | |- context [Nat.eq_dec ?a ?b] => let H := fresh in
      destruct (Nat.eq_dec a b) as [H|H]; try (exfalso; lia)
  end.

Lemma mink_2 f : mink 2 f = Rmin (f O) (f 1%nat).
Proof. unfold mink, amin. simpl. unfold Rmin. destruct Rlt_dec; destruct Rle_dec; lra. Qed.

(** Rows of two entries. *)
Lemma sumf_2 (f : nat -> R) : sumf 2 f = f O + f 1%nat.
Proof. simpl. ring. Qed.
Lemma sumf_3 (f : nat -> R) : sumf 3 f = f O + f 1%nat + f 2%nat.
Proof. simpl. ring. Qed.

(** Entmax and softmax of a two-entry row are symmetric under swapping the entries. *)
Lemma rmap_swap2 kd z z' : z' O = z 1%nat -> z' 1%nat = z O ->
  rmap kd 2 z' 1 = rmap kd 2 z O /\ rmap kd 2 z' O = rmap kd 2 z 1.
Proof.
  intros H0 H1. destruct kd; simpl.
  - unfold softmax. rewrite !sumf_2, H0, H1. split; f_equal; ring.
  - unfold entmax. assert (Ht : tau 2 (fun l => z' l / 2) = tau 2 (fun l => z l / 2)).
    { apply tau_unique; [lia|]. rewrite <- (tau_spec 2 (fun l => z l / 2)) by lia.
      unfold phi. rewrite !sumf_2, H0, H1. ring. }
    rewrite Ht, H0, H1. split; reflexivity.
Qed.

Lemma neg_div_eq a b T : a = b -> - a / T = - b / T.
Proof. intros ->. reflexivity. Qed.

(** ** Claim [ties-break-trajectories]: X = {0, 1, 2}, C = (0, 2), D = 1. *)

Definition X3 : nat -> nat -> R := fun i _ => INR i.
Definition C02 : nat -> nat -> R := fun k _ => if Nat.eq_dec k O then 0 else 2.
(** The symmetric configuration (c, 2 - c). *)
Definition Csym (c : R) : nat -> nat -> R := fun k _ => if Nat.eq_dec k O then c else 2 - c.

Lemma dist_X3 C i k : dist 1 X3 C i k = (INR i - C k O) ^ 2.
Proof. unfold dist, dist2, X3. simpl. ring. Qed.

(** On the symmetric line, the row of x = 2 - x_i is the row of x_i with the entries swapped,
    so both maps give mirrored responsibilities, n_0 = n_1 = 3/2, and c_0' + c_1' = 2. *)
Theorem symmetric_line_is_invariant kd T c : 0 < T ->
  soft_step kd T 1 3 2 X3 (Csym c) O O + soft_step kd T 1 3 2 X3 (Csym c) 1 O = 2.
Proof.
  intros HT.
  set (r := fun i k => resp kd T 1 2 X3 (Csym c) i k).
  assert (Hd : forall i k, dist 1 X3 (Csym c) i k = (INR i - (if Nat.eq_dec k O then c else 2 - c)) ^ 2)
    by (intros; rewrite dist_X3; reflexivity).
  assert (Hsw : forall i, (i <= 2)%nat -> r (2 - i)%nat 1%nat = r i O /\ r (2 - i)%nat O = r i 1%nat).
  { intros i Hi. unfold r, resp. apply rmap_swap2; rewrite !Hd; apply neg_div_eq;
      destruct i as [|[|[|i]]]; simpl; try lia; ring. }
  assert (Hs : forall i, r i O + r i 1%nat = 1).
  { intros i. destruct (rmap_simplex kd 2 (fun l => - dist 1 X3 (Csym c) i l / T) ltac:(lia)) as [_ S].
    rewrite sumf_2 in S. exact S. }
  assert (Hp : forall i k, (k < 2)%nat -> 0 <= r i k) by (intros i k Hk; apply (rmap_simplex kd 2 _ ltac:(lia)), Hk).
  destruct (Hsw O ltac:(lia)) as [A0 B0]. destruct (Hsw 1%nat ltac:(lia)) as [A1 B1].
  destruct (Hsw 2%nat ltac:(lia)) as [A2 B2]. simpl in A0, B0, A1, B1, A2, B2.
  assert (Hm0 : mass 3 (resp kd T 1 2 X3 (Csym c)) O = 3 / 2).
  { unfold mass. rewrite sumf_3. fold (r O O) (r 1%nat O) (r 2%nat O).
    pose proof (Hs 1%nat). rewrite <- A1 in H at 1. rewrite <- A2. pose proof (Hs O). lra. }
  assert (Hm1 : mass 3 (resp kd T 1 2 X3 (Csym c)) 1 = 3 / 2).
  { unfold mass. rewrite sumf_3. fold (r O 1%nat) (r 1%nat 1%nat) (r 2%nat 1%nat).
    pose proof (Hs 1%nat). pose proof (Hs O). pose proof (Hs 2%nat). lra. }
  unfold soft_step, wstep. rewrite Hm0, Hm1.
  destruct (Rle_dec (3 / 2) 0); [lra|]. rewrite !sumf_3.
  fold (r O O) (r 1%nat O) (r 2%nat O) (r O 1%nat) (r 1%nat 1%nat) (r 2%nat 1%nat).
  replace (X3 O O) with 0 by reflexivity. replace (X3 1%nat O) with 1 by reflexivity.
  replace (X3 2%nat O) with 2 by (unfold X3; simpl; ring).
  rewrite A0, A1, A2. pose proof (Hs 1%nat). pose proof (Hs O). pose proof (Hs 2%nat). field_simplify; lra.
Qed.

(** Steps depend on the centres only through their D coordinates of the K centres. *)
Lemma wstep_ext_C N X C C' w k j : C k j = C' k j -> wstep N X C w k j = wstep N X C' w k j.
Proof. intros H. unfold wstep. destruct Rle_dec; [exact H|reflexivity]. Qed.

Lemma dist_ext_C D X C C' i k : (forall j, (j < D)%nat -> C k j = C' k j) -> dist D X C i k = dist D X C' i k.
Proof. intros H. unfold dist, dist2. apply sumf_ext. intros j Hj. rewrite H by exact Hj. reflexivity. Qed.

Lemma soft_step_ext_C kd T D N K X C C' : (0 < K)%nat ->
  (forall k j, (k < K)%nat -> (j < D)%nat -> C k j = C' k j) ->
  forall k j, (k < K)%nat -> (j < D)%nat -> soft_step kd T D N K X C k j = soft_step kd T D N K X C' k j.
Proof.
  intros HK H k j Hk Hj. unfold soft_step.
  rewrite (wstep_ext N X C (resp kd T D K X C) (resp kd T D K X C')).
  - apply wstep_ext_C, H; assumption.
  - intros i _. unfold resp. apply rmap_ext; [|exact Hk]. intros l Hl.
    rewrite (dist_ext_C D X C C' i l) by (intros; apply H; assumption). reflexivity.
Qed.

Lemma lloyd_step_ext_C D N K X C C' : (0 < K)%nat ->
  (forall k j, (k < K)%nat -> (j < D)%nat -> C k j = C' k j) ->
  forall k j, (k < K)%nat -> (j < D)%nat -> lloyd_step D N K X C k j = lloyd_step D N K X C' k j.
Proof.
  intros HK H k j Hk Hj. unfold lloyd_step.
  rewrite (wstep_ext N X C (hard D K X C) (hard D K X C')).
  - apply wstep_ext_C, H; assumption.
  - intros i _. unfold hard, assign.
    rewrite (amin_ext K (dist D X C i) (dist D X C' i)); [reflexivity|].
    intros l Hl. apply dist_ext_C. intros; apply H; assumption.
Qed.

(** Iterates of a step. *)
Fixpoint iter (f : (nat -> nat -> R) -> nat -> nat -> R) (n : nat) (C : nat -> nat -> R) : nat -> nat -> R :=
  match n with O => C | S n => f (iter f n C) end.

(** The middle point is equidistant on the symmetric line: both maps weigh it 1/2, 1/2; and
    the step's second centre is (1/2 + 2 r_21) / (3/2) with 0 <= r_21 <= 1. *)
Lemma sym_step_c1 kd T c : 0 < T ->
  let r21 := resp kd T 1 2 X3 (Csym c) 2 1 in
  0 <= r21 <= 1 /\ soft_step kd T 1 3 2 X3 (Csym c) 1 O = (1 / 2 + 2 * r21) / (3 / 2).
Proof.
  intros HT r21.
  assert (Hmid : forall k, (k < 2)%nat -> resp kd T 1 2 X3 (Csym c) 1 k = / 2).
  { intros k Hk. replace (/ 2) with (/ INR 2) by (simpl; lra). unfold resp. apply rmap_equal_row; [lia| |exact Hk].
    intros l Hl. rewrite !dist_X3. destruct l as [|[|l]]; [reflexivity| |lia]. unfold Csym. simpl. apply neg_div_eq. ring. }
  assert (Hs : forall i, resp kd T 1 2 X3 (Csym c) i O + resp kd T 1 2 X3 (Csym c) i 1 = 1).
  { intros i. destruct (rmap_simplex kd 2 (fun l => - dist 1 X3 (Csym c) i l / T) ltac:(lia)) as [_ S].
    rewrite sumf_2 in S. exact S. }
  assert (Hp : forall i k, (k < 2)%nat -> 0 <= resp kd T 1 2 X3 (Csym c) i k)
    by (intros i k Hk; apply (rmap_simplex kd 2 _ ltac:(lia)), Hk).
  assert (Hsw : resp kd T 1 2 X3 (Csym c) 2 1 = resp kd T 1 2 X3 (Csym c) O O /\
                resp kd T 1 2 X3 (Csym c) 2 O = resp kd T 1 2 X3 (Csym c) O 1).
  { unfold resp. apply rmap_swap2; rewrite !dist_X3; apply neg_div_eq; unfold Csym; simpl; ring. }
  destruct Hsw as [S1 S2].
  split; [split; [apply Hp; lia|pose proof (Hs 2%nat); pose proof (Hp 2%nat O ltac:(lia)); fold r21 in H; lra]|].
  unfold soft_step, wstep, mass. rewrite !sumf_3. rewrite Hmid by lia.
  pose proof (Hs O). pose proof (Hs 2%nat).
  replace (resp kd T 1 2 X3 (Csym c) O 1 + / 2 + resp kd T 1 2 X3 (Csym c) 2 1) with (3 / 2) by lra.
  destruct (Rle_dec (3 / 2) 0); [lra|].
  replace (X3 O O) with 0 by reflexivity. replace (X3 1%nat O) with 1 by reflexivity.
  replace (X3 2%nat O) with 2 by (unfold X3; simpl; ring). fold r21. field.
Qed.

Lemma hard_nonneg_ce D K X C i k : 0 <= hard D K X C i k.
Proof. unfold hard. destruct Nat.eq_dec; lra. Qed.

Lemma assign_2 D X C i : assign D 2 X C i = if Rlt_dec (dist D X C i 1) (dist D X C i O) then 1%nat else O.
Proof. reflexivity. Qed.

(** A two-centre step with weights (w_00, w_01), (w_10, w_11), (w_20, w_21) on X = {0, 1, 2}. *)
Lemma step3 C w k : (forall i, w i k = 0 \/ 0 <= w i k) -> 0 < w O k + w 1%nat k + w 2%nat k ->
  wstep 3 X3 C w k O = (w 1%nat k + 2 * w 2%nat k) / (w O k + w 1%nat k + w 2%nat k).
Proof.
  intros _ H. unfold wstep, mass. rewrite !sumf_3. destruct Rle_dec; [lra|].
  replace (X3 O O) with 0 by reflexivity. replace (X3 1%nat O) with 1 by reflexivity.
  replace (X3 2%nat O) with 2 by (unfold X3; simpl; ring). f_equal. ring.
Qed.

Theorem ties_break_trajectories :
  (* Lloyd (ties to the lowest index): (1/2, 2), a fixed point *)
  (lloyd_step 1 3 2 X3 C02 O O = 1 / 2 /\ lloyd_step 1 3 2 X3 C02 1 O = 2) /\
  (forall n, (1 <= n)%nat -> iter (lloyd_step 1 3 2 X3) n C02 O O = 1 / 2 /\
                            iter (lloyd_step 1 3 2 X3) n C02 1 O = 2) /\
  (* entmax-1.5: exactly (1/3, 5/3) for every 0 < T <= 2 *)
  (forall T, 0 < T -> T <= 2 ->
     soft_step Entmax15 T 1 3 2 X3 C02 O O = 1 / 3 /\ soft_step Entmax15 T 1 3 2 X3 C02 1 O = 5 / 3) /\
  (* softmax: the closed form with eps = e^(-4/T), and the limit (1/3, 5/3) *)
  (forall T, 0 < T -> let eps := exp (- 4 / T) in
     soft_step Softmax T 1 3 2 X3 C02 O O = 1 / 3 + 4 / 3 * eps / (1 + eps) /\
     soft_step Softmax T 1 3 2 X3 C02 1 O = 5 / 3 - 4 / 3 * eps / (1 + eps)) /\
  filterlim (fun T => soft_step Softmax T 1 3 2 X3 C02 O O) (at_right 0) (locally (1 / 3)) /\
  filterlim (fun T => soft_step Softmax T 1 3 2 X3 C02 1 O) (at_right 0) (locally (5 / 3)) /\
  (* |c_1 - 2| >= 1/3 at every T, both maps: the soft step never approaches Lloyd's *)
  (forall kd T, 0 < T -> 1 / 3 <= Rabs (soft_step kd T 1 3 2 X3 C02 1 O - 2)) /\
  (* the soft trajectory stays on the line c_0 + c_1 = 2 for ever, both maps, every T *)
  (forall kd T n, 0 < T -> iter (soft_step kd T 1 3 2 X3) n C02 O O + iter (soft_step kd T 1 3 2 X3) n C02 1 O = 2) /\
  (* entmax-1.5, T <= 4/3: exactly (1/3, 5/3) at every step t >= 1, 1/3 from Lloyd's (1/2, 2) *)
  (forall T n, 0 < T -> T <= 4 / 3 -> (1 <= n)%nat ->
     iter (soft_step Entmax15 T 1 3 2 X3) n C02 O O = 1 / 3 /\
     iter (soft_step Entmax15 T 1 3 2 X3) n C02 1 O = 5 / 3 /\
     Rabs (iter (soft_step Entmax15 T 1 3 2 X3) n C02 1 O - iter (lloyd_step 1 3 2 X3) n C02 1 O) = 1 / 3).
Proof.
  (* distances *)
  assert (DC : forall C i k, dist 1 X3 C i k = (INR i - C k O) ^ 2) by apply dist_X3.
  (* Lloyd from (c0, c1) = (0, 2) and from (1/2, 2) *)
  set (L := fun c0 c1 : R => fun k (_ : nat) => if Nat.eq_dec k O then c0 else c1).
  assert (Lloyd_at : forall c0 c1, 0 <= c0 -> c0 <= 1 / 2 -> c1 = 2 ->
            lloyd_step 1 3 2 X3 (L c0 c1) O O = 1 / 2 /\ lloyd_step 1 3 2 X3 (L c0 c1) 1 O = 2).
  { intros c0 c1 H0 H1 H2. subst c1.
    assert (A0 : assign 1 2 X3 (L c0 2) O = O).
    { rewrite assign_2, !DC. unfold L. simpl. destruct Rlt_dec; [nra|reflexivity]. }
    assert (A1 : assign 1 2 X3 (L c0 2) 1 = O).
    { rewrite assign_2, !DC. unfold L. simpl. destruct Rlt_dec; [nra|reflexivity]. }
    assert (A2 : assign 1 2 X3 (L c0 2) 2 = 1%nat).
    { rewrite assign_2, !DC. unfold L. simpl. destruct Rlt_dec; [reflexivity|nra]. }
    unfold lloyd_step. split.
    - rewrite step3; [|intros; right; apply hard_nonneg_ce|]; unfold hard; rewrite A0, A1, A2; simpl; lra.
    - rewrite step3; [|intros; right; apply hard_nonneg_ce|]; unfold hard; rewrite A0, A1, A2; simpl; lra. }
  assert (LloydIter : forall n, (1 <= n)%nat -> iter (lloyd_step 1 3 2 X3) n C02 O O = 1 / 2 /\
                            iter (lloyd_step 1 3 2 X3) n C02 1 O = 2).
  { intros n Hn. induction n as [|n IH]; [lia|]. destruct (Nat.eq_dec n O) as [->|Hn0].
    + simpl. change C02 with (L 0 2). apply Lloyd_at; lra.
    + destruct (IH ltac:(lia)) as [I0 I1]. simpl.
      rewrite !(lloyd_step_ext_C 1 3 2 X3 (iter (lloyd_step 1 3 2 X3) n C02) (L (1 / 2) 2)); try lia.
      * apply Lloyd_at; lra.
      * intros k j Hk Hj. assert (j = O) by lia. subst j. unfold L. destruct k as [|[|k]]; [exact I0|exact I1|lia].
      * intros k j Hk Hj. assert (j = O) by lia. subst j. unfold L. destruct k as [|[|k]]; [exact I0|exact I1|lia]. }
  (* entmax on the symmetric line when every outer gap is >= 2T *)
  assert (Ent : forall c T, 0 < T -> 2 * T <= 4 - 4 * c ->
            soft_step Entmax15 T 1 3 2 X3 (Csym c) O O = 1 / 3 /\ soft_step Entmax15 T 1 3 2 X3 (Csym c) 1 O = 5 / 3).
  { intros c T HT Hg. destruct (sym_step_c1 Entmax15 T c HT) as [_ E1].
    assert (R21 : resp Entmax15 T 1 2 X3 (Csym c) 2 1 = 1).
    { destruct (one_hot_of_gap 2 T (dist 1 X3 (Csym c) 2) ltac:(lia) HT 1 ltac:(lia)) as [_ [H1 _]].
      - intros k Hk Hk1. assert (k = O) by lia. subst k. rewrite !DC. unfold Csym. simpl. nra.
      - exact H1. }
    rewrite R21 in E1. pose proof (symmetric_line_is_invariant Entmax15 T c HT). split; lra. }
  (* from C02 to the symmetric configuration (0, 2 - 0) and back *)
  assert (Sym0 : forall kd T k, (k < 2)%nat -> soft_step kd T 1 3 2 X3 C02 k O = soft_step kd T 1 3 2 X3 (Csym 0) k O).
  { intros kd T k Hk. apply soft_step_ext_C; [lia| |exact Hk|lia].
    intros k' j Hk' _. unfold C02, Csym. destruct Nat.eq_dec; ring. }
  (* a state with entries (c, 2 - c) steps like Csym c *)
  assert (SymS : forall kd T (S : nat -> nat -> R) k, (k < 2)%nat -> S O O + S 1%nat O = 2 ->
            soft_step kd T 1 3 2 X3 S k O = soft_step kd T 1 3 2 X3 (Csym (S O O)) k O).
  { intros kd T S k Hk HS. apply soft_step_ext_C; [lia| |exact Hk|lia].
    intros k' j Hk' Hj. assert (j = O) by lia. subst j. unfold Csym.
    destruct k' as [|[|k']]; [reflexivity|simpl; lra|lia]. }
  (* softmax on the symmetric line at c = 0 *)
  assert (Soft : forall T, 0 < T -> let eps := exp (- 4 / T) in
     soft_step Softmax T 1 3 2 X3 C02 O O = 1 / 3 + 4 / 3 * eps / (1 + eps) /\
     soft_step Softmax T 1 3 2 X3 C02 1 O = 5 / 3 - 4 / 3 * eps / (1 + eps)).
  { intros T HT eps. rewrite !Sym0 by lia.
    destruct (sym_step_c1 Softmax T 0 HT) as [_ E1].
    assert (R21 : resp Softmax T 1 2 X3 (Csym 0) 2 1 = 1 / (1 + eps)).
    { unfold resp. simpl. unfold softmax. rewrite sumf_2, !DC. unfold Csym. simpl. unfold eps.
      replace (- ((1 + 1 - 0) * ((1 + 1 - 0) * 1)) / T) with (- 4 / T) by (field; lra).
      replace (- ((1 + 1 - (2 - 0)) * ((1 + 1 - (2 - 0)) * 1)) / T) with 0 by (field; lra).
      rewrite exp_0. field. pose proof (exp_pos (- 4 / T)). lra. }
    rewrite R21 in E1. pose proof (symmetric_line_is_invariant Softmax T 0 HT).
    assert (0 < eps) by apply exp_pos. split; [|rewrite E1; field; lra].
    replace (soft_step Softmax T 1 3 2 X3 (Csym 0) O O) with (2 - soft_step Softmax T 1 3 2 X3 (Csym 0) 1 O) by lra.
    rewrite E1. field. lra. }
  (* the limits: |(4/3) eps/(1 + eps)| <= (4/3) eps -> 0 *)
  assert (Lim : forall (f : R -> R) l sgn, (sgn = 1 \/ sgn = -1) ->
            (forall T, 0 < T -> f T = l + sgn * (4 / 3 * exp (- 4 / T) / (1 + exp (- 4 / T)))) ->
            filterlim f (at_right 0) (locally l)).
  { intros f l sgn Hsgn Hf. apply filterlim_locally. intros e. pose proof (cond_pos e) as He.
    set (theta := Rmin (1 / 2) (e / 2)).
    assert (Ht : 0 < theta < 1) by (unfold theta; split; [apply Rmin_pos; lra|eapply Rle_lt_trans; [apply Rmin_l|lra]]).
    assert (Hl : ln theta < 0) by (rewrite <- ln_1; apply ln_increasing; lra).
    apply at_right_0_intro. exists (mkposreal (4 / (- ln theta)) ltac:(apply Rdiv_lt_0_compat; lra)).
    intros T HT. simpl in HT. apply ball_R. rewrite Hf by lra.
    pose proof (exp_small 4 theta T ltac:(lra) Ht HT) as Hs. pose proof (exp_pos (- 4 / T)).
    replace (Ropp 4) with (-4) in Hs by ring.
    assert (0 <= 4 / 3 * exp (- 4 / T) / (1 + exp (- 4 / T)) <= 4 / 3 * exp (- 4 / T)).
    { split; [apply Rdiv_le_0_compat; lra|]. unfold Rdiv. rewrite <- (Rmult_1_r (4 / 3 * exp (- 4 / T))) at 2.
      apply Rmult_le_compat_l; [lra|]. rewrite <- Rinv_1. apply Rinv_le_contravar; lra. }
    assert (theta <= e / 2) by apply Rmin_r.
    replace (l + sgn * (4 / 3 * exp (- 4 / T) / (1 + exp (- 4 / T))) - l)
      with (sgn * (4 / 3 * exp (- 4 / T) / (1 + exp (- 4 / T)))) by ring.
    rewrite Rabs_mult. destruct Hsgn as [-> | ->]; [rewrite Rabs_R1|rewrite Rabs_m1];
      rewrite Rabs_right by lra; lra. }
  split; [|split; [|split; [|split; [|split; [|split; [|split; [|split]]]]]]].
  - change C02 with (L 0 2). apply Lloyd_at; lra.
  - exact LloydIter.
  - intros T HT HT2. rewrite !Sym0 by lia. apply Ent; lra.
  - exact Soft.
  - apply (Lim _ (1 / 3) 1 (or_introl eq_refl)). intros T HT. destruct (Soft T HT) as [E _]. rewrite E. ring.
  - apply (Lim _ (5 / 3) (-1) (or_intror eq_refl)). intros T HT. destruct (Soft T HT) as [_ E]. rewrite E. ring.
  - intros kd T HT. rewrite Sym0 by lia. destruct (sym_step_c1 kd T 0 HT) as [[H0 H1] E].
    rewrite E. rewrite Rabs_left; [|lra]. lra.
  - intros kd T n HT. induction n as [|n IH].
    + simpl. unfold C02. simpl. ring.
    + simpl. rewrite !(SymS kd T (iter (soft_step kd T 1 3 2 X3) n C02)) by (lia || exact IH).
      apply symmetric_line_is_invariant, HT.
  - intros T n HT HT43 Hn. induction n as [|n IH]; [lia|].
    assert (Hs : iter (soft_step Entmax15 T 1 3 2 X3) (S n) C02 O O = 1 / 3 /\
                 iter (soft_step Entmax15 T 1 3 2 X3) (S n) C02 1 O = 5 / 3).
    { destruct (Nat.eq_dec n O) as [->|Hn0].
      - simpl. rewrite !Sym0 by lia. apply Ent; lra.
      - destruct (IH ltac:(lia)) as [I0 [I1 _]]. simpl.
        rewrite !(SymS Entmax15 T (iter (soft_step Entmax15 T 1 3 2 X3) n C02)) by (lia || lra).
        rewrite I0. apply Ent; lra. }
    destruct Hs as [S0 S1]. split; [exact S0|split; [exact S1|]].
    rewrite S1, (proj2 (LloydIter (S n) Hn)). rewrite Rabs_left by lra. lra.
Qed.

(** ** Claim [dead-centre-revival] (refuted): X = {0, 6}, C = (1, -2.5), T = 1, entmax-1.5. *)

Definition X06 : nat -> nat -> R := fun i _ => if Nat.eq_dec i O then 0 else 6.
Definition Cpair (a b : R) : nat -> nat -> R := fun k _ => if Nat.eq_dec k O then a else b.

Lemma dist_pair (X : nat -> nat -> R) a b i k : dist 1 X (Cpair a b) i k = (X i O - (if Nat.eq_dec k O then a else b)) ^ 2.
Proof. unfold dist, dist2, Cpair. simpl. ring. Qed.

(** Two points, two centres, entmax at T: if each row is one-hot at a(i), the step is the
    mean of each cell (a cell without points keeps its centre). *)
Lemma entmax_row2 T X C i j : 0 < T -> (j < 2)%nat ->
  (forall k, (k < 2)%nat -> k <> j -> 2 * T <= dist 1 X C i k - dist 1 X C i j) ->
  forall k, (k < 2)%nat -> resp Entmax15 T 1 2 X C i k = if Nat.eq_dec k j then 1 else 0.
Proof.
  intros HT Hj H k Hk. destruct (one_hot_of_gap 2 T (dist 1 X C i) ltac:(lia) HT j Hj H) as [_ [H1 H0]].
  unfold resp. simpl. destruct (Nat.eq_dec k j) as [->|Hkj]; [exact H1|apply H0; assumption].
Qed.

Theorem dead_centre_revival :
  let C0 := Cpair 1 (-5 / 2) in
  let C1 := soft_step Entmax15 1 1 2 2 X06 C0 in
  let C2 := soft_step Entmax15 1 1 2 2 X06 C1 in
  (* c_1 is dead at C0: both its regrets are >= 2T, no mass *)
  (dist 1 X06 C0 O 1 - dist 1 X06 C0 O O = 21 / 4 /\ dist 1 X06 C0 1 1 - dist 1 X06 C0 1 O = 189 / 4 /\
   resp Entmax15 1 1 2 X06 C0 O 1 = 0 /\ resp Entmax15 1 1 2 X06 C0 1 1 = 0) /\
  (* step 1: c_0 -> 3, c_1 kept *)
  (C1 O O = 3 /\ C1 1%nat O = -5 / 2) /\
  (* then c_1 is the nearest centre of x = 0, with gap 2.75 >= 2T, and takes it: (6, 0) *)
  (C2 O O = 6 /\ C2 1%nat O = 0) /\
  (* J from 13 to 0 *)
  J 1 2 2 X06 C0 = 13 /\ J 1 2 2 X06 (Cpair 6 0) = 0.
Proof.
  intros C0 C1 C2.
  assert (D0 : forall i k, dist 1 X06 C0 i k = (X06 i O - (if Nat.eq_dec k O then 1 else -5 / 2)) ^ 2)
    by (intros; apply dist_pair).
  assert (R0 : forall i k, (i < 2)%nat -> (k < 2)%nat -> resp Entmax15 1 1 2 X06 C0 i k = if Nat.eq_dec k O then 1 else 0).
  { intros i k Hi Hk. apply entmax_row2; [lra|lia| |exact Hk].
    intros k' Hk' Hk'0. assert (k' = 1%nat) by lia. subst k'. rewrite !D0. unfold X06.
    destruct i as [|[|i]]; simpl; [lra|lra|lia]. }
  assert (HC1 : C1 O O = 3 /\ C1 1%nat O = -5 / 2).
  { unfold C1, soft_step, wstep, mass. rewrite !sumf_2, !R0 by lia. simpl. split.
    - destruct Rle_dec; [lra|]. unfold X06. simpl. field.
    - destruct Rle_dec; [reflexivity|lra]. }
  assert (D1 : forall i k, (k < 2)%nat -> dist 1 X06 C1 i k = (X06 i O - (if Nat.eq_dec k O then 3 else -5 / 2)) ^ 2).
  { intros i k Hk. destruct HC1 as [E0 E1].
    destruct k as [|[|k]]; [| |lia]; unfold dist, dist2; simpl; [rewrite E0|rewrite E1]; ring. }
  assert (R1 : forall i k, (i < 2)%nat -> (k < 2)%nat ->
     resp Entmax15 1 1 2 X06 C1 i k = if Nat.eq_dec k (if Nat.eq_dec i O then 1%nat else O) then 1 else 0).
  { intros i k Hi Hk. apply entmax_row2; [lra|destruct Nat.eq_dec; lia| |exact Hk].
    intros k' Hk' Hk'j. rewrite !D1 by (try destruct Nat.eq_dec; lia). unfold X06.
    destruct i as [|[|i]]; [|simpl|lia].
    - assert (k' = O) by (simpl in Hk'j; lia). subst k'. simpl. lra.
    - assert (k' = 1%nat) by (simpl in Hk'j; lia). subst k'. simpl. lra. }
  assert (Jmin : forall X C, J 1 2 2 X C = (mink 2 (dist 1 X C O) + mink 2 (dist 1 X C 1)) / 2).
  { intros. unfold J. rewrite sumf_2. simpl. field. }
  split; [|split; [exact HC1|split]].
  - rewrite (R0 O 1%nat), (R0 1%nat 1%nat) by lia. simpl. rewrite !D0. unfold X06. simpl.
    split; [lra|split; [lra|split; reflexivity]].
  - unfold C2, soft_step, wstep, mass. rewrite !sumf_2, !R1 by lia. simpl. split.
    + destruct Rle_dec; [lra|]. unfold X06. simpl. field.
    + destruct Rle_dec; [lra|]. unfold X06. simpl. field.
  - rewrite !Jmin, !mink_2. unfold C0. rewrite !dist_pair. unfold X06. eqdec.
    unfold Rmin. split; repeat destruct Rle_dec; lra.
Qed.

(** ** Claim [objective-descent] (refuted): the soft step can increase L_T.
    entmax-1.5, X = {-1, 1}, C = (-3/2, 3/2), T = 3 = m/2: L_T(C) = J(C) = 1/4, the soft step
    is Lloyd's (-1, 1), and L_T(-1, 1) = (18 - 4 sqrt 14)/9 = 0.337... *)

Definition Xpm : nat -> nat -> R := fun i _ => if Nat.eq_dec i O then -1 else 1.

Lemma L_ext_C kd T D N K X C C' : (0 < K)%nat ->
  (forall k j, (k < K)%nat -> (j < D)%nat -> C k j = C' k j) -> L kd T D N K X C = L kd T D N K X C'.
Proof.
  intros HK H. unfold L. f_equal. apply sumf_ext. intros i _.
  assert (E : forall l, (l < K)%nat -> dist D X C i l = dist D X C' i l)
    by (intros l Hl; apply dist_ext_C; intros; apply H; assumption).
  apply sumf_ext. intros k Hk. rewrite E by exact Hk. f_equal. unfold resp.
  apply rmap_ext; [|exact Hk]. intros l Hl. rewrite E by exact Hl. reflexivity.
Qed.

(** Entmax-1.5 at T = 3 of a two-entry row with squared distances (0, 4) (a = 0, b = 1) or
    (4, 0) (a = 1, b = 0): tau = -(2 + sqrt 14)/6, weights ((2 + sqrt 14)/6)^2 on the near
    centre and ((sqrt 14 - 2)/6)^2 on the far one. *)
Lemma entmax_row_0_4 (d : nat -> R) (a b : nat) : ((a = O /\ b = 1) \/ (a = 1 /\ b = O))%nat ->
  d a = 0 -> d b = 4 ->
  entmax 2 (fun l => - d l / 3) a = ((2 + sqrt 14) / 6) ^ 2 /\
  entmax 2 (fun l => - d l / 3) b = ((sqrt 14 - 2) / 6) ^ 2.
Proof.
  intros Hab Ha Hb. pose proof (sqrt_sqrt 14 ltac:(lra)) as S.
  assert (S2 : 2 < sqrt 14) by (rewrite <- (sqrt_square 2) by lra; apply sqrt_lt_1_alt; lra).
  assert (Ht : tau 2 (fun l => - d l / 3 / 2) = - (2 + sqrt 14) / 6).
  { apply tau_unique; [lia|]. unfold phi. rewrite sumf_2.
    destruct Hab as [[-> ->]|[-> ->]]; rewrite Ha, Hb;
      rewrite !pos_of_nonneg by (unfold Rdiv; nra); nra. }
  unfold entmax. rewrite Ht, Ha, Hb. rewrite !pos_of_nonneg by (unfold Rdiv; nra).
  split; f_equal; field.
Qed.

Theorem objective_can_increase :
  let C := Cpair (-3 / 2) (3 / 2) in
  L Entmax15 3 1 2 2 Xpm C = 1 / 4 /\ J 1 2 2 Xpm C = 1 / 4 /\
  (soft_step Entmax15 3 1 2 2 Xpm C O O = -1 /\ soft_step Entmax15 3 1 2 2 Xpm C 1 O = 1) /\
  L Entmax15 3 1 2 2 Xpm (soft_step Entmax15 3 1 2 2 Xpm C) = (18 - 4 * sqrt 14) / 9 /\
  1 / 4 < (18 - 4 * sqrt 14) / 9.
Proof.
  intros C.
  assert (DC : forall i k, dist 1 Xpm C i k = (Xpm i O - (if Nat.eq_dec k O then -3 / 2 else 3 / 2)) ^ 2)
    by (intros; apply dist_pair).
  assert (R0 : forall i k, (i < 2)%nat -> (k < 2)%nat -> resp Entmax15 3 1 2 Xpm C i k =
             if Nat.eq_dec k (if Nat.eq_dec i O then O else 1%nat) then 1 else 0).
  { intros i k Hi Hk. apply entmax_row2; [lra|destruct Nat.eq_dec; lia| |exact Hk].
    intros k' Hk' Hkj. rewrite !DC. unfold Xpm. destruct i as [|[|i]]; [| |lia]; simpl in Hkj |- *.
    - assert (k' = 1%nat) by lia. subst k'. simpl. lra.
    - assert (k' = O) by lia. subst k'. simpl. lra. }
  assert (HS : soft_step Entmax15 3 1 2 2 Xpm C O O = -1 /\ soft_step Entmax15 3 1 2 2 Xpm C 1 O = 1).
  { unfold soft_step, wstep, mass. rewrite !sumf_2, !R0 by lia. simpl. unfold Xpm. simpl.
    split; (destruct Rle_dec; [lra|]); field. }
  split; [|split; [|split; [exact HS|split]]].
  - unfold L. rewrite sumf_2, !sumf_2, !R0 by lia. simpl. rewrite !DC. unfold Xpm. simpl. field.
  - unfold J. replace (INR 2) with 2 by (simpl; lra). rewrite sumf_2, !mink_2, !DC. unfold Xpm. eqdec. unfold Rmin. repeat destruct Rle_dec; lra.
  - rewrite (L_ext_C Entmax15 3 1 2 2 Xpm _ (Cpair (-1) 1)); [|lia|].
    2:{ intros k j Hk Hj. assert (j = O) by lia. subst j. unfold Cpair.
        destruct k as [|[|k]]; [apply HS|apply HS|lia]. }
    assert (D1 : forall i k, dist 1 Xpm (Cpair (-1) 1) i k = (Xpm i O - (if Nat.eq_dec k O then -1 else 1)) ^ 2)
      by (intros; apply dist_pair).
    destruct (entmax_row_0_4 (dist 1 Xpm (Cpair (-1) 1) O) O 1 ltac:(lia)) as [P00 P01];
      [rewrite D1; unfold Xpm; simpl; ring|rewrite D1; unfold Xpm; simpl; ring|].
    destruct (entmax_row_0_4 (dist 1 Xpm (Cpair (-1) 1) 1) 1 O ltac:(lia)) as [P11 P10];
      [rewrite D1; unfold Xpm; simpl; ring|rewrite D1; unfold Xpm; simpl; ring|].
    unfold L. rewrite sumf_2, !sumf_2. unfold resp. cbn [rmap]. rewrite P00, P01, P11, P10, !D1. unfold Xpm.
    eqdec. replace (INR 2) with 2 by (simpl; lra). pose proof (sqrt_sqrt 14 ltac:(lra)). nra.
  - pose proof (sqrt_sqrt 14 ltac:(lra)). assert (sqrt 14 < 63 / 16) by
      (rewrite <- (sqrt_square (63 / 16)) by lra; apply sqrt_lt_1_alt; lra). lra.
Qed.

(** ** Claim [fixed-points-hull] (refuted): X = {0, 1}, C = (1/2, 10). Lloyd's step (the
    empty cell keeps its centre) and the entmax-1.5 soft step at T = 1 both return C, and
    c_1 = 10 is no convex combination of the data. What holds: every softmax soft step is a
    convex combination of the data, so every softmax fixed point lies in the hull. *)

Definition X01 : nat -> nat -> R := fun i _ => if Nat.eq_dec i O then 0 else 1.

Definition in_hull (D N : nat) (X : nat -> nat -> R) (c : nat -> R) : Prop :=
  exists w : nat -> R, (forall i, (i < N)%nat -> 0 <= w i) /\ sumf N w = 1 /\
    forall j, (j < D)%nat -> c j = sumf N (fun i => w i * X i j).

Theorem fixed_points_outside_the_hull :
  let C := Cpair (1 / 2) 10 in
  (lloyd_step 1 2 2 X01 C O O = 1 / 2 /\ lloyd_step 1 2 2 X01 C 1 O = 10) /\
  (soft_step Entmax15 1 1 2 2 X01 C O O = 1 / 2 /\ soft_step Entmax15 1 1 2 2 X01 C 1 O = 10) /\
  ~ in_hull 1 2 X01 (C 1%nat).
Proof.
  intros C.
  assert (DC : forall i k, dist 1 X01 C i k = (X01 i O - (if Nat.eq_dec k O then 1 / 2 else 10)) ^ 2)
    by (intros; apply dist_pair).
  assert (A : forall i, (i < 2)%nat -> assign 1 2 X01 C i = O).
  { intros i Hi. rewrite assign_2, !DC. unfold X01. destruct i as [|[|i]]; [| |lia]; simpl;
      destruct Rlt_dec; [lra|reflexivity|lra|reflexivity]. }
  assert (R : forall i k, (i < 2)%nat -> (k < 2)%nat -> resp Entmax15 1 1 2 X01 C i k = if Nat.eq_dec k O then 1 else 0).
  { intros i k Hi Hk. apply entmax_row2; [lra|lia| |exact Hk].
    intros k' Hk' Hk0. assert (k' = 1%nat) by lia. subst k'. rewrite !DC. unfold X01.
    destruct i as [|[|i]]; [| |lia]; simpl; lra. }
  split; [|split].
  - unfold lloyd_step, wstep, mass, hard. rewrite !sumf_2, !A by lia. simpl. unfold X01. simpl.
    split; [destruct Rle_dec; [lra|field]|destruct Rle_dec; [reflexivity|lra]].
  - unfold soft_step, wstep, mass. rewrite !sumf_2, !R by lia. simpl. unfold X01. simpl.
    split; [destruct Rle_dec; [lra|field]|destruct Rle_dec; [reflexivity|lra]].
  - intros [w [Hw [Hs Hc]]]. specialize (Hc O ltac:(lia)). rewrite sumf_2 in Hs, Hc.
    unfold C, Cpair, X01 in Hc. simpl in Hc. pose proof (Hw O ltac:(lia)). pose proof (Hw 1%nat ltac:(lia)). lra.
Qed.

Theorem softmax_soft_step_in_hull T D N K X C k : (0 < N)%nat -> (0 < K)%nat -> 0 < T -> (k < K)%nat ->
  in_hull D N X (soft_step Softmax T D N K X C k).
Proof.
  intros HN HK HT Hk. set (n := mass N (resp Softmax T D K X C) k).
  assert (Hn : 0 < n).
  { unfold n, mass. apply Rlt_le_trans with (resp Softmax T D K X C O k); [apply softmax_pos, HK|].
    apply (sumf_term_le N (fun i => resp Softmax T D K X C i k)); [intros; left; apply softmax_pos, HK|exact HN]. }
  exists (fun i => resp Softmax T D K X C i k / n). split; [|split].
  - intros i _. apply Rdiv_le_0_compat; [left; apply softmax_pos, HK|exact Hn].
  - unfold Rdiv. rewrite sumf_scal_r. fold (mass N (resp Softmax T D K X C) k). fold n. field. lra.
  - intros j _. unfold soft_step, wstep. fold n. destruct Rle_dec; [lra|].
    unfold Rdiv. rewrite <- sumf_scal_r. apply sumf_ext. intros; ring.
Qed.

Corollary softmax_fixed_points_in_hull T D N K X C k : (0 < N)%nat -> (0 < K)%nat -> 0 < T -> (k < K)%nat ->
  (forall j, (j < D)%nat -> soft_step Softmax T D N K X C k j = C k j) -> in_hull D N X (C k).
Proof.
  intros HN HK HT Hk Hfix. destruct (softmax_soft_step_in_hull T D N K X C k HN HK HT Hk) as [w [Hw [Hs Hc]]].
  exists w. split; [exact Hw|split; [exact Hs|]]. intros j Hj. rewrite <- Hfix by exact Hj. apply Hc, Hj.
Qed.

(** ** Part of claim [trajectories-entmax] (the exact-arithmetic statement): below half the
    smallest margin along Lloyd's trajectory, the entmax-1.5 soft-step trajectory is Lloyd's. *)
Theorem entmax_trajectory_is_lloyds T D N K X C0 m n : (0 < K)%nat -> 0 < T -> 2 * T <= m ->
  (forall t, (t < n)%nat -> margin_ge D N K X (iter (lloyd_step D N K X) t C0) m) ->
  forall t k j, (t <= n)%nat -> (k < K)%nat -> (j < D)%nat ->
    iter (soft_step Entmax15 T D N K X) t C0 k j = iter (lloyd_step D N K X) t C0 k j.
Proof.
  intros HK HT HTm Hm t. induction t as [|t IH]; intros k j Ht Hk Hj; [reflexivity|]. simpl.
  rewrite (soft_step_ext_C Entmax15 T D N K X _ (iter (lloyd_step D N K X) t C0) HK) by
    (try assumption; intros; apply IH; lia).
  apply (entmax_soft_step_is_lloyd T D N K X _ m HK HT (Hm t ltac:(lia)) HTm k j Hk).
Qed.
