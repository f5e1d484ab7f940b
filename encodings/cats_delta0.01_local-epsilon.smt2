; smtnn query: network = cats
; smtnn query: property = local-epsilon
; smtnn query: perturbation = |p - p0| <= 1/100
; smtnn query: domain = {'lower': ['63/10', '2'], 'upper': ['41/2', '39/10']}
; smtnn query: x0 = ['67/5', '59/20']
; smtnn query: epsilon = 357/10000
; dialect: QF_NRA (standard SMT-LIB 2: exact polynomial real arithmetic; z3, cvc5, dReal)
(set-logic QF_NRA)
(declare-fun p_layer0_W_0_0 () Real)
(declare-fun p_layer0_W_0_1 () Real)
(declare-fun p_layer0_b_0 () Real)
(assert (and (and (and (<= (/ 118496227408378191.0 1801439850948198400.0) p_layer0_W_0_0) (<= p_layer0_W_0_0 (/ 154525024427342159.0 1801439850948198400.0))) (and (<= (/ 65931802328378213.0 56294995342131200.0) p_layer0_W_0_1) (<= p_layer0_W_0_1 (/ 67057702235220837.0 56294995342131200.0))) (and (<= (- (/ 198450029397820937.0 56294995342131200.0)) p_layer0_b_0) (<= p_layer0_b_0 (- (/ 197324129490978313.0 56294995342131200.0))))) (or (< (/ 779820693393234618764735737730987387.0 664613997892457936451903530140172288.0) (+ (* p_layer0_W_0_0 (/ 67 5)) (* p_layer0_W_0_1 (/ 59 20)) p_layer0_b_0)) (< (+ (* p_layer0_W_0_0 (/ 67 5)) (* p_layer0_W_0_1 (/ 59 20)) p_layer0_b_0) (/ 1078168202649848085908809183005670897.0 1329227995784915872903807060280344576.0)))))
(check-sat)
(exit)
