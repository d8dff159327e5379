(** * Shared definitions: finite sums, minima with ties to the lowest index, squared
    distances, the softmax and entmax-1.5 maps, the Shannon and Tsallis-1.5 entropies,
    the objectives J, L_T, F_T (means over the points), the soft step and Lloyd's step.

    This is the one home of every definition; the topic files import it.

    Indexing: points [i < N], centres [k < K], coordinates [j < D], all [nat]; data
    [X : nat -> nat -> R] ([X i j] is coordinate j of point i), centres
    [C : nat -> nat -> R] ([C k j]). Values of these functions at indices beyond the
    bounds never enter any definition. Nothing here fixes N, K or D. *)

From Coq Require Import Reals Lra Lia.
From Coquelicot Require Import Coquelicot.
Open Scope R_scope.

(** ** Finite sums: [sumf n f] = f 0 + ... + f (n - 1). *)

Fixpoint sumf (n : nat) (f : nat -> R) : R :=
  match n with O => 0 | S m => sumf m f + f m end.

Lemma sumf_ext n f g : (forall i, (i < n)%nat -> f i = g i) -> sumf n f = sumf n g.
Proof.
  induction n as [|n IH]; intros H; simpl; [reflexivity|].
  rewrite IH by (intros; apply H; lia). rewrite (H n) by lia. reflexivity.
Qed.

Lemma sumf_plus n f g : sumf n (fun i => f i + g i) = sumf n f + sumf n g.
Proof. induction n; simpl; [lra|rewrite IHn; lra]. Qed.

Lemma sumf_minus n f g : sumf n (fun i => f i - g i) = sumf n f - sumf n g.
Proof. induction n; simpl; [lra|rewrite IHn; lra]. Qed.

Lemma sumf_scal n c f : sumf n (fun i => c * f i) = c * sumf n f.
Proof. induction n; simpl; [lra|rewrite IHn; lra]. Qed.

Lemma sumf_scal_r n c f : sumf n (fun i => f i * c) = sumf n f * c.
Proof. induction n; simpl; [lra|rewrite IHn; lra]. Qed.

Lemma sumf_const n c : sumf n (fun _ => c) = INR n * c.
Proof. induction n; [simpl; lra|]. change (sumf (S n) (fun _ => c)) with (sumf n (fun _ => c) + c). rewrite IHn, S_INR; lra. Qed.

Lemma sumf_zero n : sumf n (fun _ => 0) = 0.
Proof. rewrite sumf_const; lra. Qed.

Lemma sumf_le n f g : (forall i, (i < n)%nat -> f i <= g i) -> sumf n f <= sumf n g.
Proof.
  induction n as [|n IH]; intros H; simpl; [lra|].
  specialize (IH (fun i Hi => H i ltac:(lia))). specialize (H n ltac:(lia)). lra.
Qed.

Lemma sumf_nonneg n f : (forall i, (i < n)%nat -> 0 <= f i) -> 0 <= sumf n f.
Proof. intros H. rewrite <- (sumf_zero n). apply sumf_le. exact H. Qed.

Lemma sumf_lt n f g :
  (forall i, (i < n)%nat -> f i <= g i) -> (exists i, (i < n)%nat /\ f i < g i) ->
  sumf n f < sumf n g.
Proof.
  induction n as [|n IH]; intros H [i [Hi Hlt]]; [lia|]. simpl.
  destruct (Nat.eq_dec i n) as [->|Hne].
  - pose proof (sumf_le n f g (fun k Hk => H k ltac:(lia))). lra.
  - assert (sumf n f < sumf n g).
    { apply IH; [intros; apply H; lia|exists i; split; [lia|exact Hlt]]. }
    specialize (H n ltac:(lia)). lra.
Qed.

Lemma sumf_zero_nonneg n f :
  (forall i, (i < n)%nat -> 0 <= f i) -> sumf n f = 0 -> forall i, (i < n)%nat -> f i = 0.
Proof.
  intros H Hs i Hi. destruct (Req_EM_T (f i) 0) as [|Hne]; [assumption|].
  exfalso. assert (0 < sumf n f); [|lra].
  rewrite <- (sumf_zero n). apply sumf_lt; [exact H|].
  exists i. split; [exact Hi|]. specialize (H i Hi). lra.
Qed.

Lemma sumf_swap n m (f : nat -> nat -> R) :
  sumf n (fun i => sumf m (fun k => f i k)) = sumf m (fun k => sumf n (fun i => f i k)).
Proof.
  induction n as [|n IH]; simpl.
  - symmetry; apply sumf_zero.
  - rewrite IH, <- sumf_plus. reflexivity.
Qed.

Lemma sumf_single n j f :
  (j < n)%nat -> (forall i, (i < n)%nat -> i <> j -> f i = 0) -> sumf n f = f j.
Proof.
  induction n as [|n IH]; intros Hj H; [lia|]. simpl.
  destruct (Nat.eq_dec j n) as [->|Hne].
  - rewrite (sumf_ext n f (fun _ => 0)), sumf_zero; [lra|].
    intros i Hi; apply H; lia.
  - rewrite IH by (intros; try apply H; lia). rewrite (H n) by lia. lra.
Qed.

(** Splitting off one term. *)
Lemma sumf_split n j f : (j < n)%nat ->
  sumf n f = f j + sumf n (fun i => if Nat.eq_dec i j then 0 else f i).
Proof.
  induction n as [|n IH]; intros Hj; [lia|]. simpl.
  destruct (Nat.eq_dec n j) as [->|Hne].
  - rewrite (sumf_ext j (fun i => if Nat.eq_dec i j then 0 else f i) f); [lra|].
    intros i Hi. destruct (Nat.eq_dec i j); [lia|reflexivity].
  - rewrite IH by lia. lra.
Qed.

Lemma sumf_term_le n f j :
  (forall i, (i < n)%nat -> 0 <= f i) -> (j < n)%nat -> f j <= sumf n f.
Proof.
  intros H Hj. rewrite (sumf_split n j f Hj).
  assert (0 <= sumf n (fun i => if Nat.eq_dec i j then 0 else f i)); [|lra].
  apply sumf_nonneg. intros i Hi. destruct (Nat.eq_dec i j); [lra|apply H, Hi].
Qed.

(** A decidable property holds at some index below n, or at none. *)
Lemma bounded_search n (P : nat -> Prop) : (forall l, {P l} + {~ P l}) ->
  {exists l, (l < n)%nat /\ P l} + {forall l, (l < n)%nat -> ~ P l}.
Proof.
  intros dec. induction n as [|n IH].
  - right. intros; lia.
  - destruct IH as [H|Hn].
    + left. destruct H as [l [Hl HP]]. exists l. split; [lia|exact HP].
    + destruct (dec n) as [HP|HnP].
      * left. exists n. split; [lia|exact HP].
      * right. intros l Hl. destruct (Nat.eq_dec l n) as [->|]; [exact HnP|apply Hn; lia].
Qed.

Lemma if_eq (j : nat) (A : Type) (a b : A) : (if Nat.eq_dec j j then a else b) = a.
Proof. destruct (Nat.eq_dec j j); [reflexivity|contradiction]. Qed.

Lemma if_eq_dec_neq (a b : nat) (A : Type) (x y : A) : a <> b -> (if Nat.eq_dec a b then x else y) = y.
Proof. intros H. destruct (Nat.eq_dec a b); [contradiction|reflexivity]. Qed.

(** ** Minima and the index of the minimum, ties to the lowest index. *)

(** [aminf n f] is the first index of a minimum of [f] over [0..n]. *)
Fixpoint aminf (n : nat) (f : nat -> R) : nat :=
  match n with
  | O => O
  | S m => let a := aminf m f in if Rlt_dec (f (S m)) (f a) then S m else a
  end.

(** The index of the smallest of [f 0 .. f (K - 1)], the lowest on a tie ([K >= 1]). *)
Definition amin (K : nat) (f : nat -> R) : nat := aminf (pred K) f.
(** [min_k f k] over [k < K]. *)
Definition mink (K : nat) (f : nat -> R) : R := f (amin K f).

Lemma aminf_spec n f :
  (aminf n f <= n)%nat /\ (forall k, (k <= n)%nat -> f (aminf n f) <= f k) /\
  (forall k, (k < aminf n f)%nat -> f (aminf n f) < f k).
Proof.
  induction n as [|n [Hb [Hle Hlt]]]; simpl.
  - split; [lia|split; [intros k Hk; replace k with O by lia; lra|intros; lia]].
  - destruct (Rlt_dec (f (S n)) (f (aminf n f))) as [H|H].
    + split; [lia|split].
      * intros k Hk. destruct (Nat.eq_dec k (S n)) as [->|]; [lra|].
        specialize (Hle k ltac:(lia)). lra.
      * intros k Hk. specialize (Hle k ltac:(lia)). lra.
    + split; [lia|split; [|exact Hlt]].
      intros k Hk. destruct (Nat.eq_dec k (S n)) as [->|]; [lra|]. apply Hle; lia.
Qed.

Lemma amin_lt K f : (0 < K)%nat -> (amin K f < K)%nat.
Proof. intros HK. unfold amin. destruct (aminf_spec (pred K) f). lia. Qed.

Lemma amin_le K f k : (k < K)%nat -> f (amin K f) <= f k.
Proof. intros Hk. unfold amin. apply (aminf_spec (pred K) f). lia. Qed.

Lemma amin_first K f k : (k < amin K f)%nat -> f (amin K f) < f k.
Proof. unfold amin. apply (aminf_spec (pred K) f). Qed.

Lemma mink_le K f k : (k < K)%nat -> mink K f <= f k.
Proof. apply amin_le. Qed.

Lemma aminf_ext n f g : (forall k, (k <= n)%nat -> f k = g k) -> aminf n f = aminf n g.
Proof.
  induction n as [|n IH]; intros H; [reflexivity|]. simpl.
  rewrite IH by (intros; apply H; lia).
  pose proof (proj1 (aminf_spec n g)).
  rewrite (H (S n)), (H (aminf n g)) by lia. reflexivity.
Qed.

Lemma amin_ext K f g : (forall k, (k < K)%nat -> f k = g k) -> amin K f = amin K g.
Proof.
  intros H. unfold amin. destruct K as [|K']; [reflexivity|]. apply aminf_ext.
  intros k Hk. apply H. simpl in Hk. lia.
Qed.

Lemma mink_ext K f g : (forall k, (k < K)%nat -> f k = g k) -> (0 < K)%nat -> mink K f = mink K g.
Proof.
  intros H HK. unfold mink.
  pose proof (amin_lt K f HK). pose proof (amin_lt K g HK).
  pose proof (amin_le K f (amin K g) ltac:(assumption)).
  pose proof (amin_le K g (amin K f) ltac:(assumption)).
  rewrite (H (amin K g)) in * by assumption. rewrite (H (amin K f)) in * by assumption. lra.
Qed.

(** The index given by [amin] is characterised: minimal value, and strictly smaller than
    every earlier index. *)
Lemma amin_unique K f a :
  (a < K)%nat -> (forall k, (k < K)%nat -> f a <= f k) -> (forall k, (k < a)%nat -> f a < f k) ->
  amin K f = a.
Proof.
  intros Ha Hle Hlt. assert (HK : (0 < K)%nat) by lia.
  pose proof (amin_lt K f HK) as Hb.
  destruct (lt_eq_lt_dec (amin K f) a) as [[H|H]|H]; [|exact H|].
  - specialize (Hlt _ H). pose proof (amin_le K f a Ha). lra.
  - pose proof (amin_first K f a H). specialize (Hle _ Hb). lra.
Qed.

(** ** Points, centres, squared distances. *)

Definition dist2 (D : nat) (x c : nat -> R) : R := sumf D (fun j => (x j - c j) ^ 2).

(** [dist D X C i k] = d_ik = ||x_i - c_k||^2. *)
Definition dist (D : nat) (X C : nat -> nat -> R) (i k : nat) : R := dist2 D (X i) (C k).

Lemma dist2_nonneg D x c : 0 <= dist2 D x c.
Proof. apply sumf_nonneg. intros. apply pow2_ge_0. Qed.

(** The Euclidean norm of a vector of R^D. *)
Definition norm (D : nat) (v : nat -> R) : R := sqrt (sumf D (fun j => v j ^ 2)).

(** ** The maps: softmax and entmax-1.5 of a row [z 0 .. z (K - 1)]. *)

Definition softmax (K : nat) (z : nat -> R) (k : nat) : R :=
  exp (z k) / sumf K (fun l => exp (z l)).

Definition pos (x : R) : R := Rmax 0 x.

(** phi(t) = sum_l [u_l - t]_+^2: entmax-1.5 is p_k = [u_k - tau]_+^2 with u = z/2 and tau
    the solution of phi(tau) = 1. *)
Definition phi (K : nat) (u : nat -> R) (t : R) : R := sumf K (fun l => pos (u l - t) ^ 2).

Definition maxk (K : nat) (u : nat -> R) : R := - mink K (fun l => - u l).

Lemma maxk_ge K u k : (k < K)%nat -> u k <= maxk K u.
Proof. intros Hk. unfold maxk. pose proof (mink_le K (fun l => - u l) k Hk). simpl in *. lra. Qed.

Lemma maxk_attained K u : (0 < K)%nat -> exists k, (k < K)%nat /\ u k = maxk K u.
Proof.
  intros HK. exists (amin K (fun l => - u l)). split; [apply amin_lt, HK|].
  unfold maxk, mink. lra.
Qed.

Lemma pos_nonneg x : 0 <= pos x.
Proof. unfold pos. apply Rmax_l. Qed.

Lemma pos_of_nonneg x : 0 <= x -> pos x = x.
Proof. intros H. unfold pos. apply Rmax_right, H. Qed.

Lemma pos_of_nonpos x : x <= 0 -> pos x = 0.
Proof. intros H. unfold pos. apply Rmax_left, H. Qed.

Lemma pos_ge x : x <= pos x.
Proof. unfold pos. apply Rmax_r. Qed.

Lemma pos_mono x y : x <= y -> pos x <= pos y.
Proof. intros H. unfold pos, Rmax. repeat destruct Rle_dec; lra. Qed.

Lemma phi_continuous K u : continuity (phi K u).
Proof.
  unfold phi. induction K as [|K IH]; simpl.
  - apply continuity_const. intros ??; reflexivity.
  - apply continuity_plus; [exact IH|].
    intros t. apply continuity_pt_ext with
      (f := fun t => ((u K - t + Rabs (u K - t)) / 2) * (((u K - t + Rabs (u K - t)) / 2) * 1)).
    { intros s. unfold pos, Rmax. simpl. destruct (Rle_dec 0 (u K - s)).
      - rewrite Rabs_right by lra. lra.
      - rewrite Rabs_left by lra. lra. }
    assert (Hc : continuity (fun t => (u K - t + Rabs (u K - t)) / 2)).
    { unfold Rdiv. intros s.
      apply continuity_pt_mult; [|apply continuity_pt_const; intros ??; reflexivity].
      apply continuity_pt_plus.
      - apply continuity_pt_minus; [apply continuity_pt_const; intros ??; reflexivity|apply derivable_continuous_pt, derivable_pt_id].
      - apply (continuity_pt_comp (fun t => u K - t) Rabs).
        + apply continuity_pt_minus; [apply continuity_pt_const; intros ??; reflexivity|apply derivable_continuous_pt, derivable_pt_id].
        + apply Rcontinuity_abs. }
    apply continuity_pt_mult; [apply Hc|].
    apply continuity_pt_mult; [apply Hc|apply continuity_pt_const; intros ??; reflexivity].
Qed.

Lemma phi_nonneg K u t : 0 <= phi K u t.
Proof. apply sumf_nonneg. intros. apply pow2_ge_0. Qed.

(** phi is non-increasing, and strictly decreasing where it is positive. *)
Lemma phi_antitone K u s t : s <= t -> phi K u t <= phi K u s.
Proof.
  intros H. apply sumf_le. intros l _. pose proof (pos_nonneg (u l - t)).
  pose proof (pos_mono (u l - t) (u l - s) ltac:(lra)). nra.
Qed.

Lemma phi_positive_witness K u t : 0 < phi K u t -> exists l, (l < K)%nat /\ t < u l.
Proof.
  intros H. destruct (bounded_search K (fun l => t < u l) (fun l => Rlt_dec t (u l)))
    as [|Hn]; [assumption|].
  exfalso. assert (phi K u t = 0); [|lra].
  unfold phi. rewrite <- (sumf_zero K). apply sumf_ext. intros l Hl.
  rewrite pos_of_nonpos; [simpl; ring|].
  destruct (Rle_dec (u l) t); [lra|]. exfalso. apply (Hn l Hl). lra.
Qed.

Lemma phi_strict K u s t : s < t -> 0 < phi K u t -> phi K u t < phi K u s.
Proof.
  intros H Hp. destruct (phi_positive_witness K u t Hp) as [l [Hl Hlt]].
  apply sumf_lt.
  - intros m _. pose proof (pos_nonneg (u m - t)).
    pose proof (pos_mono (u m - t) (u m - s) ltac:(lra)). nra.
  - exists l. split; [exact Hl|]. rewrite !pos_of_nonneg by lra. nra.
Qed.

Lemma phi_at_max K u : phi K u (maxk K u) = 0.
Proof.
  unfold phi. rewrite <- (sumf_zero K). apply sumf_ext. intros l Hl.
  rewrite pos_of_nonpos; [simpl; ring|]. pose proof (maxk_ge K u l Hl). lra.
Qed.

Lemma phi_below_max K u : (0 < K)%nat -> 4 <= phi K u (maxk K u - 2).
Proof.
  intros HK. destruct (maxk_attained K u HK) as [l [Hl He]].
  apply Rle_trans with (pos (u l - (maxk K u - 2)) ^ 2).
  - rewrite pos_of_nonneg by lra. rewrite He. lra.
  - apply (sumf_term_le K (fun l => pos (u l - (maxk K u - 2)) ^ 2)); [|exact Hl].
    intros. apply pow2_ge_0.
Qed.

Lemma tau_exists K u : (0 < K)%nat -> { t : R | phi K u t = 1 }.
Proof.
  intros HK.
  destruct (IVT (fun t => 1 - phi K u t) (maxk K u - 2) (maxk K u)) as [t [_ Ht]].
  - apply continuity_minus; [apply continuity_const; intros ??; reflexivity|apply phi_continuous].
  - lra.
  - pose proof (phi_below_max K u HK). lra.
  - rewrite phi_at_max. lra.
  - exists t. lra.
Qed.

(** The entmax-1.5 threshold of [u = z/2]: the solution of phi(tau) = 1 (unique:
    [tau_unique]); 0 for an empty row. *)
Definition tau (K : nat) (u : nat -> R) : R :=
  match lt_dec 0 K with
  | left HK => proj1_sig (tau_exists K u HK)
  | right _ => 0
  end.

Lemma tau_spec K u : (0 < K)%nat -> phi K u (tau K u) = 1.
Proof.
  intros HK. unfold tau. destruct (lt_dec 0 K) as [H|H]; [|lia].
  exact (proj2_sig (tau_exists K u H)).
Qed.

Lemma phi_eq_one_unique K u s t : phi K u s = 1 -> phi K u t = 1 -> s = t.
Proof.
  intros Hs Ht. destruct (Rtotal_order s t) as [H|[H|H]]; [|exact H|].
  - pose proof (phi_strict K u s t H ltac:(lra)). lra.
  - pose proof (phi_strict K u t s H ltac:(lra)). lra.
Qed.

(** Any t with phi(t) = 1 is the threshold. *)
Lemma tau_unique K u t : (0 < K)%nat -> phi K u t = 1 -> tau K u = t.
Proof. intros HK H. apply (phi_eq_one_unique K u); [apply tau_spec, HK|exact H]. Qed.

Lemma tau_ext K u v : (forall k, (k < K)%nat -> u k = v k) -> tau K u = tau K v.
Proof.
  intros H. destruct (lt_dec 0 K) as [HK|HK].
  - apply tau_unique; [exact HK|]. rewrite <- (tau_spec K v HK). apply sumf_ext.
    intros l Hl. rewrite H by exact Hl. reflexivity.
  - unfold tau. destruct (lt_dec 0 K); [lia|reflexivity].
Qed.

(** If phi(t) <= 1 then tau <= t. *)
Lemma tau_le_of_phi K u t : (0 < K)%nat -> phi K u t <= 1 -> tau K u <= t.
Proof.
  intros HK H. destruct (Rle_dec (tau K u) t) as [|Hn]; [assumption|].
  pose proof (phi_strict K u t (tau K u) ltac:(lra) ltac:(rewrite (tau_spec K u HK); lra)).
  rewrite tau_spec in * by exact HK. lra.
Qed.

Lemma tau_ge_of_phi K u t : (0 < K)%nat -> 1 <= phi K u t -> t <= tau K u.
Proof.
  intros HK H. destruct (Rle_dec t (tau K u)) as [|Hn]; [assumption|].
  assert (0 < phi K u t) by lra.
  pose proof (phi_strict K u (tau K u) t ltac:(lra) ltac:(lra)).
  rewrite tau_spec in * by exact HK. lra.
Qed.

(** tau is monotone and 1-Lipschitz in the sup norm: if u' <= u + e then tau u' <= tau u + e. *)
Lemma tau_shift K u v e : (0 < K)%nat -> (forall k, (k < K)%nat -> v k <= u k + e) ->
  tau K v <= tau K u + e.
Proof.
  intros HK H. apply tau_le_of_phi; [exact HK|]. rewrite <- (tau_spec K u HK).
  apply sumf_le. intros l Hl. pose proof (pos_nonneg (v l - (tau K u + e))).
  pose proof (pos_mono (v l - (tau K u + e)) (u l - tau K u) ltac:(specialize (H l Hl); lra)).
  nra.
Qed.

Lemma tau_lt_max K u : (0 < K)%nat -> tau K u < maxk K u.
Proof.
  intros HK. destruct (Rlt_dec (tau K u) (maxk K u)) as [|Hn]; [assumption|].
  pose proof (phi_antitone K u (maxk K u) (tau K u) ltac:(lra)).
  rewrite phi_at_max, tau_spec in * by exact HK. lra.
Qed.

Lemma tau_ge_max_minus_one K u : (0 < K)%nat -> maxk K u - 1 <= tau K u.
Proof.
  intros HK. apply tau_ge_of_phi; [exact HK|].
  destruct (maxk_attained K u HK) as [l [Hl He]].
  apply Rle_trans with (pos (u l - (maxk K u - 1)) ^ 2).
  - rewrite pos_of_nonneg by lra. rewrite He. lra.
  - apply (sumf_term_le K (fun l => pos (u l - (maxk K u - 1)) ^ 2)); [|exact Hl].
    intros. apply pow2_ge_0.
Qed.

(** entmax-1.5 of the logits [z]: p_k = [z_k/2 - tau]_+^2 with sum_k p_k = 1. *)
Definition entmax (K : nat) (z : nat -> R) (k : nat) : R :=
  pos (z k / 2 - tau K (fun l => z l / 2)) ^ 2.

Lemma entmax_nonneg K z k : 0 <= entmax K z k.
Proof. apply pow2_ge_0. Qed.

Lemma entmax_sum K z : (0 < K)%nat -> sumf K (entmax K z) = 1.
Proof. intros HK. exact (tau_spec K (fun l => z l / 2) HK). Qed.

Lemma entmax_pos_iff K z k : 0 < entmax K z k <-> tau K (fun l => z l / 2) < z k / 2.
Proof.
  unfold entmax. split; intros H.
  - destruct (Rlt_dec (tau K (fun l => z l / 2)) (z k / 2)) as [|Hn]; [assumption|].
    rewrite pos_of_nonpos in H by lra. lra.
  - rewrite pos_of_nonneg by lra. nra.
Qed.

Lemma entmax_zero_iff K z k : entmax K z k = 0 <-> z k / 2 <= tau K (fun l => z l / 2).
Proof.
  pose proof (entmax_nonneg K z k). pose proof (entmax_pos_iff K z k). split; intros H'.
  - destruct (Rle_dec (z k / 2) (tau K (fun l => z l / 2))); [assumption|]. lra.
  - unfold entmax. rewrite pos_of_nonpos by lra. ring.
Qed.

(** ** The simplex, entropies and the maps by kind. *)

Definition simplex (K : nat) (p : nat -> R) : Prop :=
  (forall k, (k < K)%nat -> 0 <= p k) /\ sumf K p = 1.

(** Shannon entropy -sum p log p. Coq's [ln] is 0 at 0, so 0 log 0 = 0 as in the code. *)
Definition shannon (K : nat) (p : nat -> R) : R := - sumf K (fun k => p k * ln (p k)).

(** Tsallis-1.5 entropy (4/3)(1 - sum p^(3/2)). *)
Definition tsallis (K : nat) (p : nat -> R) : R := 4 / 3 * (1 - sumf K (fun k => p k * sqrt (p k))).

Inductive kind := Softmax | Entmax15.

Definition rmap (kd : kind) (K : nat) (z : nat -> R) (k : nat) : R :=
  match kd with Softmax => softmax K z k | Entmax15 => entmax K z k end.

Definition entropy (kd : kind) (K : nat) (p : nat -> R) : R :=
  match kd with Softmax => shannon K p | Entmax15 => tsallis K p end.

(** H_max: log K (Shannon) or (4/3)(1 - K^-1/2) (Tsallis-1.5). *)
Definition hmax (kd : kind) (K : nat) : R :=
  match kd with Softmax => ln (INR K) | Entmax15 => 4 / 3 * (1 - / sqrt (INR K)) end.

(** ** Responsibilities and objectives (means over the N points). *)

(** r_ik = map(-d_i / T)_k. *)
Definition resp (kd : kind) (T : R) (D K : nat) (X C : nat -> nat -> R) (i k : nat) : R :=
  rmap kd K (fun l => - dist D X C i l / T) k.

(** J(C) = (1/N) sum_i min_k d_ik. *)
Definition J (D N K : nat) (X C : nat -> nat -> R) : R :=
  sumf N (fun i => mink K (dist D X C i)) / INR N.

(** L_T(C) = (1/N) sum_i sum_k r_ik d_ik. *)
Definition L (kd : kind) (T : R) (D N K : nat) (X C : nat -> nat -> R) : R :=
  sumf N (fun i => sumf K (fun k => resp kd T D K X C i k * dist D X C i k)) / INR N.

(** The per-point free energy min_{p in simplex} [p . d - T H(p)], defined literally as the
    greatest lower bound of that set of values (Coquelicot's [Glb_Rbar]); the topic files
    prove that it is attained at the map's output ([Sandwich.free_energy_point_closed_form]). *)
Definition free_point (kd : kind) (T : R) (K : nat) (d : nat -> R) : R :=
  real (Glb_Rbar (fun v => exists p, simplex K p /\
    v = sumf K (fun k => p k * d k) - T * entropy kd K p)).

(** F_T(C) = (1/N) sum_i min_{p in simplex} [p . d_i - T H(p)]. *)
Definition F (kd : kind) (T : R) (D N K : nat) (X C : nat -> nat -> R) : R :=
  sumf N (fun i => free_point kd T K (dist D X C i)) / INR N.

(** ** Steps. *)

(** The weighted-mean step: c_k <- sum_i w_ik x_i / n_k, n_k = sum_i w_ik; a centre with
    n_k <= 0 keeps its place (the code's policy, [reference._weighted_means]). *)
Definition mass (N : nat) (w : nat -> nat -> R) (k : nat) : R := sumf N (fun i => w i k).

Definition wstep (N : nat) (X C : nat -> nat -> R) (w : nat -> nat -> R) (k j : nat) : R :=
  if Rle_dec (mass N w k) 0 then C k j else sumf N (fun i => w i k * X i j) / mass N w k.

(** The soft step at temperature T. *)
Definition soft_step (kd : kind) (T : R) (D N K : nat) (X C : nat -> nat -> R) : nat -> nat -> R :=
  wstep N X C (resp kd T D K X C).

(** Nearest centre (ties to the lowest index), the hard responsibilities, Lloyd's step. *)
Definition assign (D K : nat) (X C : nat -> nat -> R) (i : nat) : nat := amin K (dist D X C i).

Definition hard (D K : nat) (X C : nat -> nat -> R) (i k : nat) : R :=
  if Nat.eq_dec (assign D K X C i) k then 1 else 0.

Definition lloyd_step (D N K : nat) (X C : nat -> nat -> R) : nat -> nat -> R :=
  wstep N X C (hard D K X C).
