; smtnn query: network = cats
; smtnn query: property = local-epsilon
; smtnn query: perturbation = |p - p0| <= 1/200
; smtnn query: domain = {'lower': ['63/10', '2'], 'upper': ['41/2', '39/10']}
; smtnn query: x0 = ['67/5', '59/20']
; smtnn query: epsilon = 11/625
; dialect: QF_NRA (standard SMT-LIB 2: exact polynomial real arithmetic; z3, cvc5, dReal)
(set-logic QF_NRA)
(declare-fun p_layer0_W_0_0 () Real)
(declare-fun p_layer0_W_0_1 () Real)
(declare-fun p_layer0_b_0 () Real)
(assert (and (and (and (<= (/ 127503426663119183.0 1801439850948198400.0) p_layer0_W_0_0) (<= p_layer0_W_0_0 (/ 145517825172601167.0 1801439850948198400.0))) (and (<= (/ 66213277305088869.0 56294995342131200.0) p_layer0_W_0_1) (<= p_layer0_W_0_1 (/ 66776227258510181.0 56294995342131200.0))) (and (<= (- (/ 198168554421110281.0 56294995342131200.0)) p_layer0_b_0) (<= p_layer0_b_0 (- (/ 197605604467688969.0 56294995342131200.0))))) (or (< (/ 714818391174270911349032394373155621.0 664613997892457936451903530140172288.0) (+ (* p_layer0_W_0_0 (/ 67 5)) (* p_layer0_W_0_1 (/ 59 20)) p_layer0_b_0)) (< (+ (* p_layer0_W_0_0 (/ 67 5)) (* p_layer0_W_0_1 (/ 59 20)) p_layer0_b_0) (/ 298267185423026495849661617943569379.0 332306998946228968225951765070086144.0)))))
(check-sat)
(exit)
