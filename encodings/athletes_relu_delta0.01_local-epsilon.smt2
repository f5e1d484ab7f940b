; smtnn query: network = athletes_relu
; smtnn query: property = local-epsilon
; smtnn query: perturbation = |p - p0| <= 1/100
; smtnn query: domain = {'lower': ['121/100', '31'], 'upper': ['109/50', '170']}
; smtnn query: x0 = ['339/200', '201/2']
; smtnn query: epsilon = 4369/10000
; dialect: QF_NRA (exact polynomial arithmetic)
(set-logic QF_NRA)
(declare-fun p_layer0_W_0_0 () Real)
(declare-fun p_layer0_W_0_1 () Real)
(declare-fun p_layer0_W_1_0 () Real)
(declare-fun p_layer0_W_1_1 () Real)
(declare-fun p_layer0_W_2_0 () Real)
(declare-fun p_layer0_W_2_1 () Real)
(declare-fun p_layer0_b_0 () Real)
(declare-fun p_layer0_b_1 () Real)
(declare-fun p_layer0_b_2 () Real)
(declare-fun p_layer1_W_0_0 () Real)
(declare-fun p_layer1_W_0_1 () Real)
(declare-fun p_layer1_W_0_2 () Real)
(declare-fun p_layer1_b_0 () Real)
(assert (and (and (and (<= (/ 68228469468951877 225179981368524800) p_layer0_W_0_0) (<= p_layer0_W_0_0 (/ 72732069096322373 225179981368524800))) (and (<= (- (/ 988491291498546701 115292150460684697600)) p_layer0_W_0_1) (<= p_layer0_W_0_1 (/ 1317351717715147251 115292150460684697600))) (and (<= (/ 43236257883282261 7036874417766400) p_layer0_W_1_0) (<= p_layer0_W_1_0 (/ 43376995371637589 7036874417766400))) (and (<= (/ 18464540775568157 3602879701896396800) p_layer0_W_1_1) (<= p_layer0_W_1_1 (/ 90522134813496093 3602879701896396800))) (and (<= (/ 174160086905890901 112589990684262400) p_layer0_W_2_0) (<= p_layer0_W_2_0 (/ 176411886719576149 112589990684262400))) (and (<= (/ 177755704700748407 3602879701896396800) p_layer0_W_2_1) (<= p_layer0_W_2_1 (/ 249813298738676343 3602879701896396800))) (and (<= (- (/ 48706711795615987 56294995342131200)) p_layer0_b_0) (<= p_layer0_b_0 (- (/ 47580811888773363 56294995342131200)))) (and (<= (- (/ 78066515517136639 7036874417766400)) p_layer0_b_1) (<= p_layer0_b_1 (- (/ 77925778028781311 7036874417766400)))) (and (<= (- (/ 78949616929755403 14073748835532800)) p_layer0_b_2) (<= p_layer0_b_2 (- (/ 78668141953044747 14073748835532800)))) (and (<= (- (/ 220108956705763217 900719925474099200)) p_layer1_W_0_0) (<= p_layer1_W_0_0 (- (/ 202094558196281233 900719925474099200)))) (and (<= (/ 29955223385877819 28147497671065600) p_layer1_W_0_1) (<= p_layer1_W_0_1 (/ 30518173339299131 28147497671065600))) (and (<= (/ 195225871874459977 225179981368524800) p_layer1_W_0_2) (<= p_layer1_W_0_2 (/ 199729471501830473 225179981368524800))) (and (<= (- (/ 1639355252906033 879609302220800)) p_layer1_b_0) (<= p_layer1_b_0 (- (/ 1621763066861617 879609302220800))))) (< (+ (* p_layer1_W_0_0 (ite (<= 0.0 (+ (* p_layer0_W_0_0 (/ 339 200)) (* p_layer0_W_0_1 (/ 201 2)) p_layer0_b_0)) (+ (* p_layer0_W_0_0 (/ 339 200)) (* p_layer0_W_0_1 (/ 201 2)) p_layer0_b_0) 0.0)) (* p_layer1_W_0_1 (ite (<= 0.0 (+ (* p_layer0_W_1_0 (/ 339 200)) (* p_layer0_W_1_1 (/ 201 2)) p_layer0_b_1)) (+ (* p_layer0_W_1_0 (/ 339 200)) (* p_layer0_W_1_1 (/ 201 2)) p_layer0_b_1) 0.0)) (* p_layer1_W_0_2 (+ (* p_layer0_W_2_0 (/ 339 200)) (* p_layer0_W_2_1 (/ 201 2)) p_layer0_b_2)) p_layer1_b_0) (- (/ 966296063048797252128842213602387919 2658455991569831745807614120560689152)))))
(check-sat)
(exit)
