; smtnn query: network = cats
; smtnn query: property = global-epsilon
; smtnn query: perturbation = |p - p0| <= 1/100
; smtnn query: domain = {'lower': ['63/10', '2'], 'upper': ['41/2', '39/10']}
; smtnn query: epsilon = 36/625
; dialect: dReal (real arithmetic with exp; logic ALL, which dReal 4 and z3 read whole; solvers without exp such as cvc5 refuse it)
(set-logic ALL)
(declare-fun p_layer0_W_0_0 () Real)
(declare-fun p_layer0_W_0_1 () Real)
(declare-fun p_layer0_b_0 () Real)
(declare-fun x0 () Real)
(declare-fun x1 () Real)
(assert (and (and (and (<= (/ 118496227408378191.0 1801439850948198400.0) p_layer0_W_0_0) (<= p_layer0_W_0_0 (/ 154525024427342159.0 1801439850948198400.0))) (and (<= (/ 65931802328378213.0 56294995342131200.0) p_layer0_W_0_1) (<= p_layer0_W_0_1 (/ 67057702235220837.0 56294995342131200.0))) (and (<= (- (/ 198450029397820937.0 56294995342131200.0)) p_layer0_b_0) (<= p_layer0_b_0 (- (/ 197324129490978313.0 56294995342131200.0))))) (and (and (<= (/ 63 10) x0) (<= x0 (/ 41 2))) (and (<= 2.0 x1) (<= x1 (/ 39 10))))))
(assert (or (> (- (/ 1 (+ 1 (exp (- (+ (* p_layer0_W_0_0 x0) (* p_layer0_W_0_1 x1) p_layer0_b_0))))) (/ 1 (+ 1 (exp (- (+ (* (/ 5460425036714407 72057594037927936.0) x0) (* (/ 2659790091271981 2251799813685248) x1) (- (/ 7915483177775985 2251799813685248)))))))) (/ 36 625)) (< (- (/ 1 (+ 1 (exp (- (+ (* p_layer0_W_0_0 x0) (* p_layer0_W_0_1 x1) p_layer0_b_0))))) (/ 1 (+ 1 (exp (- (+ (* (/ 5460425036714407 72057594037927936.0) x0) (* (/ 2659790091271981 2251799813685248) x1) (- (/ 7915483177775985 2251799813685248)))))))) (- (/ 36 625)))))
(check-sat)
(exit)
