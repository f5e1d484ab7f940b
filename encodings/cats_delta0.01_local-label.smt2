; smtnn query: network = cats
; smtnn query: property = local-label
; smtnn query: perturbation = |p - p0| <= 1/100
; smtnn query: domain = {'lower': ['63/10', '2'], 'upper': ['41/2', '39/10']}
; smtnn query: x0 = ['67/5', '59/20']
; dialect: QF_NRA (exact polynomial arithmetic)
(set-logic QF_NRA)
(declare-fun p_layer0_W_0_0 () Real)
(declare-fun p_layer0_W_0_1 () Real)
(declare-fun p_layer0_b_0 () Real)
(assert (and (and (and (<= (/ 118496227408378191 1801439850948198400) p_layer0_W_0_0) (<= p_layer0_W_0_0 (/ 154525024427342159 1801439850948198400))) (and (<= (/ 65931802328378213 56294995342131200) p_layer0_W_0_1) (<= p_layer0_W_0_1 (/ 67057702235220837 56294995342131200))) (and (<= (- (/ 198450029397820937 56294995342131200)) p_layer0_b_0) (<= p_layer0_b_0 (- (/ 197324129490978313 56294995342131200))))) (or (and (<= 0.0 (/ 354792092096082701 360287970189639680)) (< (+ (* p_layer0_W_0_0 (/ 67 5)) (* p_layer0_W_0_1 (/ 59 20)) p_layer0_b_0) 0.0)) (and (< (/ 354792092096082701 360287970189639680) 0.0) (<= 0.0 (+ (* p_layer0_W_0_0 (/ 67 5)) (* p_layer0_W_0_1 (/ 59 20)) p_layer0_b_0))))))
(check-sat)
(exit)
