; smtnn query: network = cats
; smtnn query: property = local-label
; smtnn query: perturbation = |p - p0| <= 1/200
; smtnn query: domain = {'lower': ['63/10', '2'], 'upper': ['41/2', '39/10']}
; smtnn query: x0 = ['67/5', '59/20']
; dialect: QF_NRA (exact polynomial arithmetic)
(set-logic QF_NRA)
(declare-fun p_layer0_W_0_0 () Real)
(declare-fun p_layer0_W_0_1 () Real)
(declare-fun p_layer0_b_0 () Real)
(assert (and (and (and (<= (/ 127503426663119183 1801439850948198400) p_layer0_W_0_0) (<= p_layer0_W_0_0 (/ 145517825172601167 1801439850948198400))) (and (<= (/ 66213277305088869 56294995342131200) p_layer0_W_0_1) (<= p_layer0_W_0_1 (/ 66776227258510181 56294995342131200))) (and (<= (- (/ 198168554421110281 56294995342131200)) p_layer0_b_0) (<= p_layer0_b_0 (- (/ 197605604467688969 56294995342131200))))) (or (and (<= 0.0 (/ 354792092096082701 360287970189639680)) (< (+ (* p_layer0_W_0_0 (/ 67 5)) (* p_layer0_W_0_1 (/ 59 20)) p_layer0_b_0) 0.0)) (and (< (/ 354792092096082701 360287970189639680) 0.0) (<= 0.0 (+ (* p_layer0_W_0_0 (/ 67 5)) (* p_layer0_W_0_1 (/ 59 20)) p_layer0_b_0))))))
(check-sat)
(exit)
